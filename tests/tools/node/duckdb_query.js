// duckdb_query.js - runs one SQL statement in an in-memory DuckDB and prints
// its result as one JSON array of row objects ({"column": value, ...}).
//
//   node duckdb_query.js "SELECT * FROM read_parquet('/tmp/x.parquet')"
//
// How DuckDB values come out, so that JSON can carry them exactly:
//   BLOB (and BIT, GEOMETRY)   lower-case hex string, "" for an empty blob
//   BIGINT, HUGEINT, UBIGINT   a number when it is a safe integer
//                              (|v| <= 2^53 - 1), else a decimal string
//   TIMESTAMP* and DATE        milliseconds since the Unix epoch (a number;
//                              sub-millisecond digits are dropped)
//   MAP                        an array of {"key": k, "value": v}, in order
//   LIST, ARRAY, STRUCT        arrays and objects, converted the same way
//   NULL                       null
// Other types come as @duckdb/node-api's getRowObjectsJS() gives them.
//
// Exits 1 with DuckDB's message on stderr when the statement fails. Used by
// tests/integration/conftest.py:duckdb_query().
'use strict';

const { DuckDBInstance } = require('@duckdb/node-api');

function convert(v) {
    if (v === null || v === undefined)
        return null;
    if (typeof v === 'bigint') {
        const small = v <= BigInt(Number.MAX_SAFE_INTEGER) &&
                      v >= BigInt(-Number.MAX_SAFE_INTEGER);
        return small ? Number(v) : v.toString();
    }
    if (v instanceof Uint8Array)
        return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex');
    if (v instanceof Date)
        return v.getTime();
    if (Array.isArray(v))
        return v.map(convert);
    if (typeof v === 'object') {
        const out = {};
        for (const [k, x] of Object.entries(v))
            out[k] = convert(x);
        return out;
    }
    return v;
}

async function main() {
    if (process.argv.length !== 3) {
        process.stderr.write('usage: node duckdb_query.js "SQL"\n');
        process.exit(2);
    }
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    try {
        const reader = await connection.runAndReadAll(process.argv[2]);
        const rows = reader.getRowObjectsJS().map(convert);
        process.stdout.write(JSON.stringify(rows) + '\n');
    } finally {
        connection.closeSync();
        instance.closeSync();
    }
}

main().catch((e) => {
    process.stderr.write('duckdb_query: ' + (e && e.message ? e.message : String(e)) + '\n');
    process.exit(1);
});
