// merge_diff.mjs - `mpibatch results --merge` against DuckDB over the
// concatenated files: each query's merged answer (HAVING, ORDER BY and
// LIMIT applied to the merged states of all tasks) must equal DuckDB's
// answer over all the files at once. Prints TAP.
//
//   node merge_diff.mjs NODE_DIR WORKDIR FILES_JSON QUERIES_JSON
//
// QUERIES_JSON: [{ "q": SQL, "merged": FILE }], FILE the output of
// `mpibatch results OUT --merge` for that query. Numbers agree within
// 1e-12 relative (our sums are exact and rounded once, DuckDB's DOUBLE sums
// are rounded as they go); everything else exactly, row by row.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';

const [nodeDir, , filesArg, queriesArg] = process.argv.slice(2);
const require = createRequire(nodeDir + '/');
const duckdb = require('@duckdb/node-api');
const files = JSON.parse(filesArg), queries = JSON.parse(queriesArg);

function parseCsv(text) {
    const rows = [];
    let row = [], f = '', q = false, quoted = false;
    for (let i = 0; i < text.length; i++) {
        const ch = text[i];
        if (q) {
            if (ch === '"' && text[i + 1] === '"') { f += '"'; i++; }
            else if (ch === '"') q = false;
            else f += ch;
        } else if (ch === '"') { q = true; quoted = true; }
        else if (ch === ',') { row.push(f === '' && !quoted ? null : f); f = ''; quoted = false; }
        else if (ch === '\n') { row.push(f === '' && !quoted ? null : f); rows.push(row); row = []; f = ''; quoted = false; }
        else f += ch;
    }
    return rows;
}
function same(a, b) {
    if (a === b) return true;
    if (a === null || b === null) return false;
    const x = Number(a), y = Number(b);
    if (Number.isNaN(x) || Number.isNaN(y) || a === '' || b === '') return false;
    return Math.abs(x - y) <= 1e-12 * Math.max(Math.abs(x), Math.abs(y), 1e-300);
}

const inst = await duckdb.DuckDBInstance.create(':memory:', { threads: '1' });
const con = await inst.connect();
const src = `read_csv([${files.map((f) => `'${f}'`).join(', ')}], header = true, ` +
            `types = {'air_time': 'DOUBLE'})`;
let n = 0, failed = 0;
console.log(`1..${queries.length}`);
for (const { q, merged } of queries) {
    n++;
    const r = await con.runAndReadAll(`SELECT CAST(COLUMNS(*) AS VARCHAR) FROM (${q.replace('FROM input', `FROM ${src}`)})`);
    const want = r.getRows().map((row) => row.map((v) => (v === null ? null : String(v))));
    const got = parseCsv(readFileSync(merged, 'utf8')).slice(1);
    let ok = got.length === want.length && want.length > 0;
    let why = ok ? '' : `ours ${got.length} rows, DuckDB ${want.length}`;
    for (let i = 0; ok && i < want.length; i++)
        for (let c = 0; ok && c < want[i].length; c++)
            if (!same(got[i][c], want[i][c])) {
                ok = false;
                why = `row ${i + 1} col ${c + 1}: ours ${got[i][c]}, DuckDB ${want[i][c]}`;
            }
    if (!ok) failed++;
    console.log(`${ok ? 'ok' : 'not ok'} ${n} - merged over ${files.length} tasks: ${q.replace(/\s+/g, ' ')}${ok ? '' : ' # ' + why}`);
}
console.log(`# ${n - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
