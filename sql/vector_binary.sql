-- pgvector's binary format: int16 dimensions, int16 unused (0), float4
-- values, network byte order.
SELECT vector_send('[1,2,3]');
SELECT vector_send('[-0,1e-45,3.4028235e38]');

-- COPY BINARY round trip through a file in the server's data directory
SELECT current_setting('data_directory') || '/kyrodb_regress_binary.data' AS binfile \gset
CREATE TABLE bin_src (id int, v vector);
INSERT INTO bin_src VALUES
  (1, '[1,2,3]'), (2, '[-0,1e-45,-3.4028235e38]'), (3, '[0.1,0.2]'), (4, NULL),
  (5, ('[' || repeat('0.5,', 1999) || '0.25]')::vector);
COPY bin_src TO :'binfile' WITH (FORMAT binary);
CREATE TABLE bin_dst (id int, v vector);
COPY bin_dst FROM :'binfile' WITH (FORMAT binary);
SELECT s.id, s.v IS NOT DISTINCT FROM d.v AS same, s.v::text = d.v::text AS same_text
  FROM bin_src s JOIN bin_dst d USING (id) ORDER BY id;

-- a typmod is enforced on binary input too
CREATE TABLE bin_typed (id int, v vector(3));
COPY bin_typed FROM :'binfile' WITH (FORMAT binary);
DROP TABLE bin_src, bin_dst, bin_typed;

-- malformed binary input: a COPY BINARY file with one vector field, written
-- by the server from bytes given here
CREATE FUNCTION write_copy_file(payload bytea, path text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  lo oid;
BEGIN
  lo := lo_from_bytea(0, '\x5047434f50590aff0d0a00'::bytea || '\x0000000000000000'::bytea
                         || '\x0001'::bytea || int4send(length(payload)) || payload || '\xffff'::bytea);
  PERFORM lo_export(lo, path);
  PERFORM lo_unlink(lo);
END $$;
CREATE TABLE bin_bad (v vector);
SELECT write_copy_file('\x000100003fc00000', :'binfile');
COPY bin_bad FROM :'binfile' WITH (FORMAT binary);
SELECT * FROM bin_bad;
SELECT write_copy_file('\x000100013f800000', :'binfile');
COPY bin_bad FROM :'binfile' WITH (FORMAT binary);
SELECT write_copy_file('\x00000000', :'binfile');
COPY bin_bad FROM :'binfile' WITH (FORMAT binary);
SELECT write_copy_file('\xffff0000', :'binfile');
COPY bin_bad FROM :'binfile' WITH (FORMAT binary);
SELECT write_copy_file('\x3e810000', :'binfile');
COPY bin_bad FROM :'binfile' WITH (FORMAT binary);
SELECT write_copy_file('\x000100007fc00000', :'binfile');
COPY bin_bad FROM :'binfile' WITH (FORMAT binary);
SELECT write_copy_file('\x00010000ff800000', :'binfile');
COPY bin_bad FROM :'binfile' WITH (FORMAT binary);
SELECT write_copy_file('\x000200003f800000', :'binfile');
COPY bin_bad FROM :'binfile' WITH (FORMAT binary);
SELECT write_copy_file('\x000100003f8000003f800000', :'binfile');
COPY bin_bad FROM :'binfile' WITH (FORMAT binary);
SELECT * FROM bin_bad;
DROP TABLE bin_bad;
DROP FUNCTION write_copy_file;
