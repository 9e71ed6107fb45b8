// duckdb_exec.js - runs SQL statements in an in-memory DuckDB and prints
// nothing but errors. The integration tests use it to write files the way
// users do (COPY (SELECT ...) TO 'f.parquet' (FORMAT parquet, ...)).
//
//   node duckdb_exec.js "SQL" ["SQL" ...]
//
// Each argument runs in turn on one connection. Exit status 0, or 1 with the
// error on stderr. With DUCKDB_EXEC_PRINT=1 the rows of the last statement are
// printed, one a line, values separated by tabs (for checks).
'use strict';

const { DuckDBInstance } = require('@duckdb/node-api');

async function main(argv) {
    if (argv.length === 0) {
        process.stderr.write('usage: node duckdb_exec.js "SQL" ["SQL" ...]\n');
        return 2;
    }
    const instance = await DuckDBInstance.create(':memory:');
    const conn = await instance.connect();
    try {
        let last = null;
        for (const sql of argv)
            last = await conn.runAndReadAll(sql);
        if (process.env.DUCKDB_EXEC_PRINT === '1' && last) {
            for (const row of last.getRows())
                process.stdout.write(row.map((v) => String(v)).join('\t') + '\n');
        }
    } finally {
        conn.closeSync();
        instance.closeSync();
    }
    return 0;
}

main(process.argv.slice(2)).then(
    (rc) => process.exit(rc),
    (e) => {
        process.stderr.write('duckdb_exec: ' + (e && e.message ? e.message : e) + '\n');
        process.exit(1);
    });
