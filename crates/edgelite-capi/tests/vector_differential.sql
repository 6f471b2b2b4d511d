-- libSQL's vector SQL surface, run through edgelite and through libSQL's own engine (npm
-- `libsql`, tests/libsql); every answer must be identical: blobs, values and error texts.
-- One statement per line. Cases where edgelite deliberately differs (libSQL defects, spec
-- section 4.2: e.g. libSQL leaves vector8 padding bytes uninitialised) are not here;
-- tests/vector_sql.rs checks them against the spec instead.

-- Text to blob, every type.
SELECT hex(vector('[1,2,3]'));
SELECT hex(vector32('[1,2,3]'));
SELECT hex(vector('[]'));
SELECT hex(vector('  [ 1 , 2 , 3 ]  '));
SELECT hex(vector('[1 2, 3]'));
SELECT hex(vector('[-0.5, .25, 1e3, -2E-2, +7]'));
SELECT hex(vector('[1e39, -1e39]'));
SELECT hex(vector('[1e-50]'));
SELECT hex(vector('[0.1]'));
SELECT hex(vector64('[1]'));
SELECT hex(vector64('[0.1, -2.5, 1e300]'));
SELECT hex(vector64('[]'));
SELECT hex(vector16('[1,2]'));
SELECT hex(vector16('[0.1, -65504, 65520, 1e-7, 6e-8]'));
SELECT hex(vector16('[]'));
SELECT hex(vectorb16('[1,2]'));
SELECT hex(vectorb16('[0.1, -3.14159, 1e38]'));
SELECT hex(vectorb16('[]'));
SELECT hex(vector8('[0,1,2,3]'));
SELECT hex(vector8('[5,5,5,5]'));
SELECT hex(vector8('[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]'));
SELECT hex(vector8('[]'));
SELECT hex(vector1bit('[1,-1,1]'));
SELECT hex(vector1bit('[1,1,1,1,1,1,1,1]'));
SELECT hex(vector1bit('[1,1,1,1,1,1,1,1,1]'));
SELECT hex(vector1bit('[0, -0.0, 0.001, -5, 3, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, -1]'));
SELECT hex(vector1bit('[]'));

-- Blob to blob conversions, every pair of types.
SELECT hex(vector32(vector64('[1.5,-2,3]')));
SELECT hex(vector32(vector16('[1.5,-2,3]')));
SELECT hex(vector32(vectorb16('[1.5,-2,3]')));
SELECT hex(vector32(vector8('[1.5,-2,3]')));
SELECT hex(vector32(vector1bit('[1.5,-2,3]')));
SELECT hex(vector64(vector('[1.5,-2,0.1]')));
SELECT hex(vector64(vector16('[1.5,-2,0.1]')));
SELECT hex(vector64(vectorb16('[1.5,-2,0.1]')));
SELECT hex(vector64(vector8('[1.5,-2,0.1]')));
SELECT hex(vector64(vector1bit('[1.5,-2,0.1]')));
SELECT hex(vector16(vector('[1.5,-2,0.1]')));
SELECT hex(vector16(vector64('[1.5,-2,0.1]')));
SELECT hex(vector16(vectorb16('[1.5,-2,0.1]')));
SELECT hex(vector16(vector8('[1.5,-2,0.1]')));
SELECT hex(vector16(vector1bit('[1.5,-2,0.1]')));
SELECT hex(vectorb16(vector('[1.5,-2,0.1]')));
SELECT hex(vectorb16(vector64('[1.5,-2,0.1]')));
SELECT hex(vectorb16(vector16('[1.5,-2,0.1]')));
SELECT hex(vectorb16(vector8('[1.5,-2,0.1]')));
SELECT hex(vectorb16(vector1bit('[1.5,-2,0.1]')));
SELECT hex(vector8(vector('[1.5,-2,0.1,4]')));
SELECT hex(vector8(vector64('[1.5,-2,0.1,4]')));
SELECT hex(vector8(vector16('[1.5,-2,0.1,4]')));
SELECT hex(vector8(vectorb16('[1.5,-2,0.1,4]')));
SELECT hex(vector8(vector1bit('[1.5,-2,0.1,4]')));
SELECT hex(vector1bit(vector('[1.5,-2,0.1]')));
SELECT hex(vector1bit(vector64('[1.5,-2,0.1]')));
SELECT hex(vector1bit(vector16('[1.5,-2,0.1]')));
SELECT hex(vector1bit(vectorb16('[1.5,-2,0.1]')));
SELECT hex(vector1bit(vector8('[1.5,-2,0.1,4]')));
SELECT hex(vector(x'0000803F0000004000004040'));
SELECT hex(vector(x'0000803F0000004000004040' || x'01'));
SELECT hex(vector64(x'000000000000F03F02'));

-- vector_extract of every type.
SELECT vector_extract(vector('[1,2,3]'));
SELECT vector_extract(vector('[]'));
SELECT vector_extract(vector('[0.1, 123456789, 1e-7, -0.000001, 100000, 1000000, 1e20, -1e-20]'));
SELECT vector_extract(vector('[1e39, -1e39]'));
SELECT vector_extract(vector64('[0.1, 3.141592653589793, 1e300, -2.5e-300]'));
SELECT vector_extract(vector16('[0.1, -65504, 65520, 1e-7]'));
SELECT vector_extract(vectorb16('[0.1, -3.14159, 1e38]'));
SELECT vector_extract(vector8('[-1, 0.5, 3.25, 10, -7]'));
SELECT vector_extract(vector8('[5,5,5,5]'));
SELECT vector_extract(vector1bit('[1,-1,1,0,2]'));
SELECT vector_extract('[1, 2.5, -3]');
SELECT vector_extract(x'0000803F0000004000004040');
SELECT vector_extract(x'000000000000F03F02');
SELECT vector_extract(x'003C004005');
SELECT vector_extract(x'803F004006');
SELECT vector_extract(x'050D03');
SELECT vector_extract(x'FF01001703');
SELECT vector_extract(x'0055AAFFC1C0403C00000000000004');
SELECT hex(vector8(x'0055AAFFC1C0403C00000000000004'));

-- Distances.
SELECT vector_distance_cos(vector('[1,2,3]'), vector('[1,2,3]'));
SELECT vector_distance_cos(vector('[1,2]'), vector('[2,1]'));
SELECT vector_distance_cos('[1,2]', '[2,1]');
SELECT vector_distance_cos('[1,0]', '[0,1]');
SELECT vector_distance_cos('[1,0]', '[-1,0]');
SELECT vector_distance_cos('[1000]', '[1000]');
SELECT vector_distance_cos('[0,0]', '[1,1]');
SELECT vector_distance_cos('[]', '[]');
SELECT vector_distance_cos(vector64('[1,2]'), vector64('[2,1]'));
SELECT vector_distance_cos(vector16('[1,2,3.5]'), vector16('[2,1,-1]'));
SELECT vector_distance_cos(vectorb16('[1,2,3.5]'), vectorb16('[2,1,-1]'));
SELECT vector_distance_cos(vector8('[1,2,3.5,0.25]'), vector8('[2,1,-1,4]'));
SELECT vector_distance_cos(vector1bit('[1,-1,1,1,-1]'), vector1bit('[1,1,-1,1,-1]'));
SELECT vector_distance_cos(vector1bit('[1,-1,1,1,-1,1,1,1,1,1,-1,-1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,-1,1]'), vector1bit('[1,1,-1,1,-1,1,1,1,-1,1,-1,-1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,-1]'));
SELECT vector_distance_cos(vector16('[60000, 60000]'), vector16('[60000, 60000]'));
SELECT vector_distance_l2(vector('[1,2,3]'), vector('[4,6,3]'));
SELECT vector_distance_l2('[1,2,3]', '[1,2,3]');
SELECT vector_distance_l2('[]', '[]');
SELECT vector_distance_l2('[0.1, 0.2]', '[0.3, -0.4]');
SELECT vector_distance_l2(vector64('[0.1, 0.2]'), vector64('[0.3, -0.4]'));
SELECT vector_distance_l2(vector16('[1,2,3.5]'), vector16('[2,1,-1]'));
SELECT vector_distance_l2(vectorb16('[1,2,3.5]'), vectorb16('[2,1,-1]'));
SELECT vector_distance_l2(vector8('[1,2,3.5,0.25]'), vector8('[2,1,-1,4]'));
SELECT vector_distance_l2('[1e30, 1e30]', '[-1e30, -1e30]');

-- Argument errors.
SELECT vector(NULL);
SELECT vector(1);
SELECT vector(1.5);
SELECT vector64(NULL);
SELECT vector_extract(NULL);
SELECT vector_extract(42);
SELECT vector_distance_cos(NULL, '[1]');
SELECT vector_distance_cos('[1]', NULL);
SELECT vector_distance_cos('[1]', 2.0);
SELECT vector_distance_l2(3, '[1]');
SELECT vector('1,2]');
SELECT vector('');
SELECT vector('   ');
SELECT vector('[1,2');
SELECT vector('[1,2,]');
SELECT vector('[,1]');
SELECT vector('[1,,2]');
SELECT vector('[abc]');
SELECT vector('[1,2] x');
SELECT vector('[1,2]]');
SELECT vector('[[1]');
SELECT vector('[0x10]');
SELECT vector('[inf]');
SELECT vector('[nan]');
SELECT vector('[1e]');
SELECT vector('[1.2.3]');
SELECT vector('[--1]');
SELECT vector64('[1, two]');
SELECT vector16('[1, 2');
SELECT vector8('x');
SELECT vector1bit('[1] 2');
SELECT vector(x'01');
SELECT vector(x'0000803F07');
SELECT vector(x'0000803F000001');
SELECT vector(x'00000000000000000002');
SELECT vector(x'0003');
SELECT vector(x'03');
SELECT vector(x'04');
SELECT vector(x'0005');
SELECT vector(x'000006');
SELECT vector_distance_cos(vector64('[1,2]'), '[1,2]');
SELECT vector_distance_cos(vector16('[1,2]'), vector('[1,2]'));
SELECT vector_distance_cos('[1,2]', '[1,2,3]');
SELECT vector_distance_cos(vector('[1,2]'), vector('[1,2,3]'));
SELECT vector_distance_l2(vector1bit('[1,-1]'), vector1bit('[1,1]'));
SELECT vector_distance_cos(vector8('[1,2]'), vector16('[1,2]'));

-- Arity is fixed.
SELECT vector();
SELECT vector('[1]', '[2]');
SELECT vector_extract();
SELECT vector_distance_cos('[1]');
SELECT vector_distance_l2('[1]', '[1]', '[1]');

-- Vector columns and their affinity.
CREATE TABLE v (id INTEGER PRIMARY KEY, a FLOAT32(3), b F32_BLOB(3), c FLOAT64(2), d F16_BLOB(2));
INSERT INTO v VALUES (1, 5, 5, '[1,2]', vector16('[1,2]'));
INSERT INTO v VALUES (2, vector('[1,2,3]'), vector('[4,5,6]'), vector64('[1,2]'), vector16('[3,4]'));
INSERT INTO v VALUES (3, '[1,2,3]', '[1,2,3]', NULL, NULL);
SELECT id, typeof(a), typeof(b), typeof(c), typeof(d) FROM v ORDER BY id;
SELECT id, vector_extract(b) FROM v WHERE id IN (2, 3) ORDER BY id;
SELECT id, vector_distance_l2(a, b) FROM v WHERE id = 2;
SELECT id, vector_distance_cos(b, '[1,2,3]') AS d FROM v WHERE id IN (2, 3) ORDER BY d, id;
SELECT vector_extract(d) FROM v WHERE id = 2;
SELECT id FROM v ORDER BY vector_distance_cos(b, vector('[4,5,6]')) LIMIT 1;

-- vector_top_k's arguments: three at most, a string index name, a query of the index's type and
-- dimensions (blobs shorter than one element included), the legacy index syntax libSQL no
-- longer parses.
CREATE TABLE tk (id INTEGER PRIMARY KEY, v F32_BLOB(2));
CREATE INDEX tk_idx ON tk (libsql_vector_idx(v));
INSERT INTO tk VALUES (1, vector('[1,2]')), (2, vector('[3,4]'));
SELECT id FROM vector_top_k('tk_idx', vector('[1,2]'), 2);
SELECT id FROM vector_top_k('tk_idx', vector('[1,2]'), 2, 5);
SELECT id FROM vector_top_k(123, vector('[1,2]'), 2);
SELECT id FROM vector_top_k(X'0102', vector('[1,2]'), 2);
SELECT id FROM vector_top_k(NULL, vector('[1,2]'), 2);
SELECT id FROM vector_top_k('tk_idx', X'01', 2);
SELECT id FROM vector_top_k('tk_idx', X'', 2);
SELECT id FROM vector_top_k('tk_idx', X'0000803f', 2);
INSERT INTO tk VALUES (3, X'01');
INSERT INTO tk VALUES (5, X'');
SELECT vector_extract(X'01');
SELECT vector_distance_cos(X'01', X'01');
CREATE INDEX tk_idx2 ON tk USING diskann_cosine_ops (v);
SELECT count(*) FROM tk;
