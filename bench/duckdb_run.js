// duckdb_run.js - runs SQL statements in one in-memory DuckDB and times each
// inside DuckDB (node's start-up and DuckDB's loading are not counted).
//
//   node duckdb_run.js "SQL" ["SQL" ...]
//
// Prints one JSON line: {"ms": [elapsed ms of each statement], "rows":
// [the first row of each statement's result, as strings, or null]}.
// @duckdb/node-api is loaded from tests/tools/node (sh scripts/node-tools.sh
// installs it there). Exits 1 with DuckDB's message on stderr when a
// statement fails. Used by bench/bench_archive.py.
'use strict';

const path = require('path');
const { createRequire } = require('module');
const { DuckDBInstance } = createRequire(
    path.join(__dirname, '..', 'tests', 'tools', 'node', 'package.json'))('@duckdb/node-api');

async function main() {
    const sqls = process.argv.slice(2);
    if (sqls.length === 0) {
        process.stderr.write('usage: node duckdb_run.js "SQL" ["SQL" ...]\n');
        process.exit(2);
    }
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    const ms = [], rows = [];
    try {
        for (const sql of sqls) {
            const t0 = process.hrtime.bigint();
            const reader = await connection.runAndReadAll(sql);
            const t1 = process.hrtime.bigint();
            ms.push(Number(t1 - t0) / 1e6);
            const r = reader.getRows();
            rows.push(r.length ? r[0].map((v) => (v === null ? null : String(v))) : null);
        }
        process.stdout.write(JSON.stringify({ ms, rows }) + '\n');
    } finally {
        connection.closeSync();
        instance.closeSync();
    }
}

main().catch((e) => {
    process.stderr.write('duckdb_run: ' + (e && e.message ? e.message : String(e)) + '\n');
    process.exit(1);
});
