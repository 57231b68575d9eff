// query_diff.mjs - whole queries against DuckDB: seeded random data and
// seeded random aggregation queries (keys, aggregates with FILTER, WHERE,
// HAVING, expressions over aggregates, ORDER BY, LIMIT/OFFSET), each run
// by build/tests/sqlrun (our parser, binder, row layer, exact group table
// and group layer) and by DuckDB, answer by answer. Prints TAP.
//
//   node query_diff.mjs NODE_DIR SQLRUN WORKDIR [SEED] [NQUERIES]
//
// SQLRUN may instead be tests/sql/mbrun.sh, which runs each query as one
// `mpibatch run --sql` job under mpirun over both files (two tasks), so
// that the answers come from ranks reducing their states.
//
// Answers are compared cell by cell as text, except numbers, which agree
// within 1e-12 relative: our sums are exact and rounded once, DuckDB's
// DOUBLE sums and averages are rounded as they go. The DOUBLE column x
// holds values over the whole range (1e-300, 1e300, subnormals, -0.0) and,
// in group 'Ab', inf, -inf and nan. A query without ORDER
// BY is compared as a set of rows (DuckDB's order is arbitrary). A query
// DuckDB refuses must be refused by us too.
import { createRequire } from 'node:module';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const [nodeDir, sqlrun, work, seedArg = '1', nqArg = '300'] = process.argv.slice(2);
const require = createRequire(nodeDir + '/');
const duckdb = require('@duckdb/node-api');

let seed = BigInt(seedArg) || 1n;
function rnd() {
    seed ^= seed << 13n; seed &= (1n << 64n) - 1n;
    seed ^= seed >> 7n;
    seed ^= seed << 17n; seed &= (1n << 64n) - 1n;
    return Number((seed * 2685821657736338717n) >> 11n & ((1n << 53n) - 1n)) / 2 ** 53;
}
const pick = (a) => a[Math.floor(rnd() * a.length)];
const int = (lo, hi) => lo + Math.floor(rnd() * (hi - lo + 1));
const pad = (n) => String(n).padStart(2, '0');

// ---- data: small key domains so that groups have several rows ----------------
const COLS = 'k VARCHAR, c VARCHAR, i BIGINT, j BIGINT, d DECIMAL(12,2), x DOUBLE, ' +
             'dt DATE, ts TIMESTAMP, b BOOLEAN, s VARCHAR';
// s: text as found in the wild, CSV-quoted where it must be
const texts = ['plain', 'with, comma', 'say "hi"', 'ümlaut', ' padded ', 'x'.repeat(300),
               'line\nbreak', 'a'.repeat(40) + 'z', 'Plain', 'plai', 'é', 'zz\u00e9', '日本'];
const quote = (t) => (/[,"\n]|^ | $/.test(t) ? `"${t.replace(/"/g, '""')}"` : t);
function row() {
    const nul = () => rnd() < 0.1;
    const k = nul() ? '' : pick(['a', 'b', 'c', 'd', 'Ab']);
    const c = nul() ? '' : pick(['x', 'y', 'ZZ', 'y y']);
    const i = nul() ? '' : String(int(-1000, 1000));
    const j = nul() ? '' : String(int(0, 5));
    const d = nul() ? '' : (int(-500000, 500000) / 100).toFixed(2);
    // x: doubles over the whole range (tiny, huge, subnormal, -0.0), and now
    // and then, always in group 'Ab', an infinity or a NaN
    let x = nul() ? '' : String(pick([0.1, 0.25, -3.5, 1e-7, 1234.5678, int(-100, 100) / 8]));
    if (x !== '' && rnd() < 0.15)
        x = pick(['1e-300', '-1e-300', '1e300', '5e-324', '-5e-324', '2.5e-310', '-0.0',
                  '2.2250738585072014e-308', '1.5e+200']);
    if (k === 'Ab' && rnd() < 0.08) x = pick(['inf', '-inf', 'nan']);
    const dt = nul() ? '' : `${int(2019, 2024)}-${pad(int(1, 12))}-${pad(int(1, 28))}`;
    const ts = nul() ? '' : `${int(2019, 2024)}-${pad(int(1, 12))}-${pad(int(1, 28))} ` +
        `${pad(int(0, 23))}:${pad(int(0, 59))}:${pad(int(0, 59))}`;
    const b = nul() ? '' : pick(['true', 'false']);
    const s = nul() ? '' : quote(pick(texts));
    return [k, c, i, j, d, x, dt, ts, b, s].join(',');
}
const NROWS = int(150, 400);
const lines = ['k,c,i,j,d,x,dt,ts,b,s'];
for (let r = 0; r < NROWS; r++) lines.push(row());
const csv = work + '/query.csv';
writeFileSync(csv, lines.join('\n') + '\n');
const empty = work + '/empty.csv';
writeFileSync(empty, lines[0] + '\n');

// ---- queries -------------------------------------------------------------------
const keyPool = ['k', 'c', 'j', 'b', 'upper(k)', 'i % 3', 'j > 2', 'extract(year FROM dt)',
                 'date_trunc(\'year\', dt)', 'CASE WHEN i > 0 THEN \'pos\' ELSE \'neg\' END',
                 'coalesce(k, \'?\')', 'dt', 'length(c)', 'i // 250', 'length(s)',
                 'substr(s, 1, 3)'];
const numArg = ['i', 'j', 'd', 'x', 'i * 2', 'd - i', 'i + j', 'abs(i)', 'd * 2', 'x * 4',
                'CASE WHEN b THEN i ELSE j END', 'round(d, 1)'];
const anyArg = ['i', 'd', 'dt', 'ts', 'x', 'j'];
// min/max over VARCHAR (bytewise) and BOOLEAN
const ordArg = ['s', 's', 'k', 'c', 'upper(s)', 'k || c', 'substr(s, 2, 4)', 'trim(s)', 'b', 'i > 0'];
const preds = ['i > 0', 'b', 'NOT b', 'j IN (1, 2)', 'k = \'a\'', 'd < 0', 'dt >= \'2022-01-01\'',
               'c LIKE \'%y%\'', 'x IS NOT NULL', 'i BETWEEN -100 AND 300', 'k IS NULL OR j = 0',
               // boundaries that the data hits often (j is 0..5), so that
               // < against <= (and > against >=) give other answers
               'j < 3', 'j <= 1', 'j >= 4', 'j > 2 AND j <> 5', 'k < \'b\'', 'k >= \'b\''];
function agg() {
    const f = pick(['count(*)', 'count', 'sum', 'avg', 'min', 'max', 'var_samp', 'var_pop',
                    'stddev_samp', 'stddev_pop', 'bool_and', 'bool_or', 'sum', 'avg']);
    let e;
    if (f === 'count(*)') e = 'count(*)';
    else if (f === 'count') e = `count(${pick(['i', 'k', 'd', 'dt', 'b', 'x', 's'])})`;
    else if (f === 'min' || f === 'max') e = `${f}(${pick(anyArg.concat(numArg, ordArg, ordArg))})`;
    else if (f === 'bool_and' || f === 'bool_or') e = `${f}(${pick(['b', 'i > 0', 'j = 0'])})`;
    else e = `${f}(${pick(numArg)})`;
    if (rnd() < 0.2) e += ` FILTER (WHERE ${pick(preds)})`;
    return e;
}
function query() {
    const nk = pick([0, 1, 1, 1, 2, 2]);
    const keys = [];
    while (keys.length < nk) { const k = pick(keyPool); if (!keys.includes(k)) keys.push(k); }
    const aggs = [];
    for (let a = int(1, 4); a > 0; a--) aggs.push(agg());
    const sel = keys.map((k, n) => `${k} AS k${n}`).concat(aggs.map((a, n) => `${a} AS a${n}`));
    if (rnd() < 0.3) sel.push(`sum(i) / count(*) AS r0`);
    if (rnd() < 0.2) sel.push(`count(*) * 2 + 1 AS r1`);
    let q = `SELECT ${sel.join(', ')} FROM input`;
    if (rnd() < 0.4) q += ` WHERE ${pick(preds)}`;
    if (nk) q += ` GROUP BY ${keys.map((_, n) => `k${n}`).join(', ')}`;
    if (nk && rnd() < 0.25) q += ` HAVING count(*) > ${int(1, 6)}`;
    let ordered = false;
    if (nk && rnd() < 0.6) {
        q += ` ORDER BY ${keys.map((_, n) => `${n + 1}${pick(['', ' DESC'])}${pick(['', ' NULLS FIRST'])}`).join(', ')}`;
        ordered = true;
        if (rnd() < 0.4) q += ` LIMIT ${int(1, 5)}${rnd() < 0.5 ? ` OFFSET ${int(0, 3)}` : ''}`;
    }
    return { q, ordered };
}
const nq = Number(nqArg);
const queries = [
    { q: 'SELECT count(*), sum(i), avg(d), min(dt), max(ts) FROM input', ordered: true },
    { q: 'SELECT k, count(*) FROM input GROUP BY k ORDER BY k NULLS FIRST', ordered: true },
    { q: 'SELECT DISTINCT k, b FROM input', ordered: false },
    { q: 'SELECT count(*) AS n, sum(i) FROM input WHERE i > 100000', ordered: true },
    { q: 'SELECT k, sum(d) FILTER (WHERE b) AS s, count(*) FILTER (WHERE NOT b) AS n FROM input GROUP BY k', ordered: false },
    { q: 'SELECT upper(k) AS u, avg(x), var_samp(d), stddev_pop(i) FROM input GROUP BY u HAVING count(*) > 3 ORDER BY u', ordered: true },
    { q: 'SELECT date_trunc(\'month\', ts) AS m, min(i), max(i), count(k) FROM input GROUP BY m', ordered: false },
    { q: 'SELECT k, min(s), max(s), count(s), min(c) FILTER (WHERE b) AS mc FROM input GROUP BY k ORDER BY k NULLS FIRST', ordered: true },
    { q: 'SELECT min(s), max(s), min(b), max(b), max(k || s) FROM input', ordered: true },
    { q: 'SELECT c, max(s) AS m, min(s) FROM input GROUP BY c HAVING max(s) > \'p\' ORDER BY m NULLS FIRST, c', ordered: true },
    { q: 'SELECT j, min(s) FROM input WHERE k IS NULL GROUP BY j ORDER BY min(s) DESC NULLS FIRST, j', ordered: true },
    // DOUBLE sums over the whole range, infinities and NaN (group 'Ab')
    { q: 'SELECT k, sum(x), avg(x), min(x), max(x), count(x), sum(x * 4) FROM input GROUP BY k ORDER BY k NULLS FIRST', ordered: true },
    { q: 'SELECT sum(x), avg(x), min(x), max(x), sum(x) FILTER (WHERE k <> \'Ab\') AS f FROM input', ordered: true },
    { q: 'SELECT c, sum(x), var_samp(x), stddev_pop(x) FROM input WHERE abs(x) < 1e10 GROUP BY c ORDER BY c NULLS FIRST', ordered: true },
    { q: 'SELECT j, sum(x) AS s FROM input WHERE abs(x) < 1e-100 GROUP BY j ORDER BY j NULLS FIRST', ordered: true },
];
for (let n = 0; n < nq; n++) queries.push(query());

// ---- run both ------------------------------------------------------------------
const inst = await duckdb.DuckDBInstance.create(':memory:', { threads: '1' });
const con = await inst.connect();
const colmap = COLS.split(/,\s*(?![^()]*\))/).map((c) => {
    const [n, ...t] = c.trim().split(' ');
    return `'${n}': '${t.join(' ')}'`;
}).join(', ');
async function table(name, file) {
    await con.run(`CREATE OR REPLACE TABLE ${name} AS SELECT * FROM read_csv('${file}', ` +
                  `header = true, columns = {${colmap}}, nullstr = '')`);
}
await table('data_full', csv);
await table('data_empty', empty);

function parseCsv(text) {
    const rows = [];
    let row = [], f = '', q = false, i = 0, quoted = false;
    for (; i < text.length; i++) {
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
// Numbers agree within 1e-12 relative (the smallest magnitudes within
// 1e-300: DuckDB's sums of subnormals and tiny values round as they go);
// inf, -inf and nan exactly, except that the sign of a NaN is not compared
// (DuckDB's inf + -inf is the hardware's default NaN, printed "-nan").
function same(a, b) {
    if (a === b) return true;
    if (a === null || b === null) return false;
    if (/^-?nan$/.test(a) && /^-?nan$/.test(b)) return true;
    if (/inf|nan/.test(a) || /inf|nan/.test(b)) return false;
    const x = Number(a), y = Number(b);
    if (Number.isNaN(x) || Number.isNaN(y) || a === '' || b === '') return false;
    return Math.abs(x - y) <= 1e-12 * Math.max(Math.abs(x), Math.abs(y), 1e-300);
}

// mbrun.sh's answer for one of the two tasks, as spawnSync would give it
function ranRun(tname) {
    const t = tname === 'data_full' ? 'full' : 'empty', dir = work + '/mbrun';
    try {
        return { status: Number(readFileSync(`${dir}/${t}.status`, 'utf8')),
                 stdout: readFileSync(`${dir}/${t}.out`), stderr: Buffer.from('') };
    } catch (err) {
        return { status: 99, stdout: Buffer.from(`ERROR: no answer (${err.message})`),
                 stderr: Buffer.from('') };
    }
}

let n = 0, failed = 0, refused = 0, rowsCompared = 0;
const total = queries.length * 2;
console.log(`1..${total}`);
const batch = sqlrun.endsWith('.sh');
for (const { q, ordered } of queries) {
    if (batch) {                    // no answer of the last query may pass for this one's
        rmSync(work + '/mbrun', { recursive: true, force: true });
        spawnSync(sqlrun, [csv, empty, COLS, q], { maxBuffer: 1 << 26 });
    }
    for (const [tname, file] of [['data_full', csv], ['data_empty', empty]]) {
        n++;
        let want = null, werr = null;
        try {
            const sql = `SELECT CAST(COLUMNS(*) AS VARCHAR) FROM (${q.replace('FROM input', `FROM ${tname}`)})`;
            const r = await con.runAndReadAll(sql);
            want = r.getRows().map((row) => row.map((v) => (v === null ? null : String(v))));
        } catch (err) {
            werr = String(err.message).split('\n')[0];
        }
        const run = batch ? ranRun(tname) : spawnSync(sqlrun, [file, COLS, q], { maxBuffer: 1 << 26 });
        const out = run.stdout.toString();
        let ok = true, why = '';
        if (werr !== null) {
            refused++;
            ok = run.status !== 0;
            why = `DuckDB refused (${werr}) but we answered`;
        } else if (run.status !== 0) {
            ok = false;
            why = out.split('\n')[0] + run.stderr.toString().split('\n')[0];
        } else {
            const got = parseCsv(out).slice(1);
            rowsCompared += want.length;
            if (got.length !== want.length) {
                ok = false;
                why = `ours ${got.length} rows, DuckDB ${want.length}`;
            } else if (ordered) {
                for (let r = 0; ok && r < want.length; r++)
                    for (let c = 0; ok && c < want[r].length; c++)
                        if (!same(got[r][c], want[r][c])) {
                            ok = false;
                            why = `row ${r + 1} col ${c + 1}: ours ${got[r][c]}, DuckDB ${want[r][c]}`;
                        }
            } else {                        // as sets: match each row once
                const left = want.slice();
                for (const g of got) {
                    const at = left.findIndex((w) => w.every((v, c) => same(g[c], v)));
                    if (at < 0) { ok = false; why = `ours ${JSON.stringify(g)} not in DuckDB's`; break; }
                    left.splice(at, 1);
                }
            }
        }
        if (!ok) failed++;
        const label = `${tname === 'data_empty' ? '(empty input) ' : ''}${q}`.replace(/#/g, '\\#');
        console.log(`${ok ? 'ok' : 'not ok'} ${n} - ${label}${ok ? '' : ' # ' + why}`);
    }
}
console.log(`# ${refused} queries refused by DuckDB and by us alike; ${rowsCompared} answer rows compared`);
console.log(`# ${n - failed} passed, ${failed} failed (seed ${seedArg}, ${NROWS} rows)`);
process.exit(failed ? 1 : 0);
