// eval_diff.mjs - the SQL row layer against DuckDB: seeded random data and
// expressions (hand-written ones for every operator and function, then
// random compositions), each evaluated by build/tests/sqleval (our parser,
// binder and evaluator) and by DuckDB, value by value. Prints TAP.
//
//   node eval_diff.mjs NODE_DIR SQLEVAL WORKDIR [SEED] [NRANDOM]
//
// Values are compared as text, as both engines write them (DuckDB through
// CAST(... AS VARCHAR)); DOUBLE values may differ in the last place where
// a function is computed differently (round(x, n)), so two numbers within
// 1e-12 relative count as equal. An expression DuckDB refuses to run
// (bind error or a runtime error such as an overflow) must be refused by
// us too: a bind error, or an ERROR on some row.
//
// Not compared: substr() with a negative start beyond the string's
// beginning, where DuckDB 1.5 answers differently for a vector with and
// without non-ASCII strings ('42' from -3 for 2 is '42' on one path and
// '4' on the other); we take the ASCII path's rule, which test_sql_eval
// checks.
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

const [nodeDir, sqleval, work, seedArg = '1', nrandArg = '300'] = process.argv.slice(2);
const require = createRequire(nodeDir + '/');
const duckdb = require('@duckdb/node-api');

let seed = BigInt(seedArg) || 1n;
function rnd() {                          // xorshift64*, so runs repeat
    seed ^= seed << 13n; seed &= (1n << 64n) - 1n;
    seed ^= seed >> 7n;
    seed ^= seed << 17n; seed &= (1n << 64n) - 1n;
    return Number((seed * 2685821657736338717n) >> 11n & ((1n << 53n) - 1n)) / 2 ** 53;
}
const pick = (a) => a[Math.floor(rnd() * a.length)];
const int = (lo, hi) => lo + Math.floor(rnd() * (hi - lo + 1));

// ---- data -------------------------------------------------------------------
const COLS = 'i BIGINT, j BIGINT, d DECIMAL(12,3), x DOUBLE, s VARCHAR, t VARCHAR, ' +
             'dt DATE, ts TIMESTAMP, b BOOLEAN';
const words = ['alpha', 'Beta', 'gamma ray', '  padded  ', 'x', '', 'ZULU', 'mIxEd', 'a_b%c',
               'hello world', 'Ünïcode', 'tab', '42', 'o\'reilly'];
function pad(n, w = 2) { return String(n).padStart(w, '0'); }
function row() {
    const nul = () => rnd() < 0.12;
    const i = nul() ? '' : String(pick([0, 1, -1, 2, 3, 7, -13, 100, 255, 1000000,
                                        -987654321, 2147483647, int(-50, 50)]));
    const j = nul() ? '' : String(pick([0, 1, -1, 2, 5, -3, 10, int(-9, 9)]));
    const d = nul() ? '' : (int(-99999, 99999) / 1000).toFixed(3);
    const x = nul() ? '' : String(pick([0, 0.1, -2.5, 1e-7, 123.456, 1e20, -0.001, 3.75,
                                        rnd() * 1000 - 500]));
    const s = nul() ? '' : pick(words);
    const t = nul() ? '' : pick(['a', 'b', 'alpha', 'Beta', 'zz']);
    const y = int(1969, 2031), mo = int(1, 12), da = int(1, 28);
    const dt = nul() ? '' : `${y}-${pad(mo)}-${pad(da)}`;
    const ts = nul() ? '' : `${int(1965, 2035)}-${pad(int(1, 12))}-${pad(int(1, 28))} ` +
        `${pad(int(0, 23))}:${pad(int(0, 59))}:${pad(int(0, 59))}` +
        (rnd() < 0.4 ? '.' + String(int(0, 999999)).padStart(6, '0') : '');
    const b = nul() ? '' : pick(['true', 'false']);
    const q = (v) => (v.includes(',') || v.includes('"') || v.startsWith(' ') || v === '')
        ? (v === '' ? '' : '"' + v.replace(/"/g, '""') + '"') : v;
    return [i, j, d, x, q(s), t, dt, ts, b].join(',');
}
const NROWS = 160;
const lines = ['i,j,d,x,s,t,dt,ts,b'];
for (let k = 0; k < NROWS; k++) lines.push(row());
const csv = work + '/eval.csv';
writeFileSync(csv, lines.join('\n') + '\n');

// ---- expressions --------------------------------------------------------------
const fixed = [
    'i + j', 'i - j', 'i * j', 'i / j', 'i // j', 'i % j', '-i', '+i', 'i * 1000000000000',
    'd + 1', 'd - i', 'd * 2', 'd * d', 'd / 4', 'd % 1', '-d', 'x + 1', 'x * 2', 'x / 3',
    'x - d', 'i + 0.5', 'i * 1.25', '2147483647 * 2147483647 * 4', 'i = j', 'i <> j',
    'i < j', 'i <= j', 'i > j', 'i >= j', 'd > 1.5', 'x >= 0', 's = t', 's < t', 's >= \'b\'',
    'dt > DATE \'2000-01-01\'', 'dt >= \'2000-06-15\'', 'ts < \'2000-01-01 12:00:00\'',
    'b', 'NOT b', 'b AND i > 0', 'b OR i > 0', 'b AND NULL', 'b OR NULL', 'NOT (i > j)',
    'i IS NULL', 'i IS NOT NULL', 'b IS TRUE', 'b IS NOT TRUE', 'b IS FALSE', 'b IS NOT FALSE',
    'i IN (1, 2, 3)', 'i NOT IN (1, 2, 3)', 'i IN (1, NULL)', 'i NOT IN (1, NULL)',
    's IN (\'x\', \'ZULU\')', 'i BETWEEN -1 AND 3', 'i NOT BETWEEN -1 AND 3',
    'd BETWEEN 0 AND 50', 'dt BETWEEN \'1990-01-01\' AND \'2010-12-31\'',
    's LIKE \'%a%\'', 's LIKE \'_\'', 's LIKE \'a%\'', 's NOT LIKE \'%l%\'', 's ILIKE \'%A%\'',
    's ILIKE \'m_x%\'', 's LIKE \'a!_b!%c\' ESCAPE \'!\'', 's LIKE \'%\'', 's LIKE \'\'',
    'CASE WHEN i > 0 THEN \'pos\' WHEN i < 0 THEN \'neg\' ELSE \'zero\' END',
    'CASE WHEN i > 0 THEN i END', 'CASE i WHEN 1 THEN \'one\' WHEN 2 THEN \'two\' END',
    'CASE WHEN b THEN d ELSE i END', 'CASE WHEN b THEN x ELSE d END',
    'coalesce(i, j, 0)', 'coalesce(s, t)', 'coalesce(d, i)', 'nullif(i, 1)', 'nullif(s, \'x\')',
    'CAST(i AS VARCHAR)', 'CAST(d AS VARCHAR)', 'CAST(x AS VARCHAR)', 'CAST(dt AS VARCHAR)',
    'CAST(ts AS VARCHAR)', 'CAST(b AS VARCHAR)', 'CAST(d AS BIGINT)', 'CAST(x AS BIGINT)',
    'CAST(i AS DOUBLE)', 'CAST(d AS DOUBLE)', 'CAST(i AS DECIMAL(18,2))', 'CAST(x AS DECIMAL(18,3))',
    'CAST(ts AS DATE)', 'CAST(dt AS TIMESTAMP)', 'CAST(t AS VARCHAR)', 'CAST(s AS BIGINT)',
    'i::VARCHAR || \'!\'', 'd::DECIMAL(12,1)', 'CAST(b AS BIGINT)',
    'abs(i)', 'abs(d)', 'abs(x)', 'round(d)', 'round(d, 1)', 'round(d, 2)', 'round(d, -1)',
    'round(x)', 'round(x, 2)', 'round(i, -1)', 'floor(d)', 'ceil(d)', 'floor(x)', 'ceil(x)',
    'lower(s)', 'upper(s)', 'length(s)', 'substr(s, 2)', 'substr(s, 2, 3)', 'substr(s, 0, 2)',
    'substr(s, -1, 1)', 'substr(s, -1)', 'substring(s FROM 2 FOR 2)', 'trim(s)', 'ltrim(s)',
    'rtrim(s)', 'trim(s, \'a\')', 'ltrim(s, \' a\')', 'rtrim(s, \'d \')', 'concat(s, t)',
    'concat(s, i, d)', 's || t', 's || i', 'concat(\'<\', s, \'>\')',
    'date_trunc(\'month\', dt)', 'date_trunc(\'year\', dt)', 'date_trunc(\'week\', dt)',
    'date_trunc(\'quarter\', dt)', 'date_trunc(\'day\', ts)', 'date_trunc(\'hour\', ts)',
    'date_trunc(\'minute\', ts)', 'date_trunc(\'second\', ts)', 'date_trunc(\'month\', ts)',
    'date_trunc(\'decade\', dt)', 'date_trunc(\'century\', dt)', 'date_trunc(\'millisecond\', ts)',
    'extract(year FROM dt)', 'extract(month FROM dt)', 'extract(day FROM dt)',
    'extract(dow FROM dt)', 'extract(isodow FROM dt)', 'extract(doy FROM dt)',
    'extract(week FROM dt)', 'extract(quarter FROM dt)', 'extract(hour FROM ts)',
    'extract(minute FROM ts)', 'extract(second FROM ts)', 'extract(epoch FROM ts)',
    'extract(epoch FROM dt)', 'date_part(\'millisecond\', ts)', 'date_part(\'microsecond\', ts)',
    'date_part(\'decade\', dt)', 'date_part(\'century\', dt)', 'date_part(\'millennium\', dt)',
    'strftime(dt, \'%Y/%m/%d\')', 'strftime(ts, \'%Y-%m-%d %H:%M:%S\')', 'strftime(ts, \'%j %a %b\')',
    'strftime(ts, \'%A %B %y %I %p\')', 'strftime(ts, \'%f\')', 'strftime(ts, \'%G-W%V-%u %w\')',
    'greatest(i, j)', 'least(i, j)', 'greatest(i, j, 0)', 'least(d, i)', 'greatest(s, t)',
    'greatest(dt, DATE \'2000-01-01\')', 'dt + 1', 'dt - 1', 'dt - DATE \'2000-01-01\'',
    'i + j * 2 - 1', '(i + j) * (i - j)', 'i % 3 = 0 AND j % 2 = 1', 'length(s) > 3 OR b',
    'upper(s) LIKE \'%A%\'', 'coalesce(length(s), -1) + i', 'CASE WHEN s IS NULL THEN 0 ELSE length(s) END',
    'substr(upper(s), 1, 1) || lower(substr(s, 2))', 'i // 0', 'i % 0', 'x / 0', 'd % 0',
];

// Random well-typed expressions.
const leaves = {
    int: ['i', 'j', '1', '2', '-3', '0', '10', 'length(s)', 'extract(year FROM dt)'],
    dec: ['d', '1.5', '0.25', '-2.75'],
    dbl: ['x', '0.5e0', 'i / 2'],
    str: ['s', 't', '\'ab\'', '\'Zed\''],
    bool: ['b', 'true', 'false'],
    date: ['dt', 'DATE \'2001-02-03\''],
    ts: ['ts', 'TIMESTAMP \'2001-02-03 04:05:06\''],
};
function gen(type, depth) {
    if (depth <= 0 || rnd() < 0.25) return pick(leaves[type]);
    const g = (t) => gen(t, depth - 1);
    const num = () => pick(['int', 'dec', 'dbl']);
    switch (type) {
    case 'int': return pick([
        () => `(${g('int')} ${pick(['+', '-', '*'])} ${g('int')})`,
        () => `(${g('int')} ${pick(['//', '%'])} ${g('int')})`,
        () => `abs(${g('int')})`, () => `length(${g('str')})`,
        () => `CASE WHEN ${g('bool')} THEN ${g('int')} ELSE ${g('int')} END`,
        () => `coalesce(${g('int')}, ${g('int')})`, () => `greatest(${g('int')}, ${g('int')})`,
        () => `least(${g('int')}, ${g('int')})`, () => `extract(month FROM ${g('date')})`,
        () => `nullif(${g('int')}, ${g('int')})`, () => `CAST(${g('dec')} AS BIGINT)`,
    ])();
    case 'dec': return pick([
        () => `(${g('dec')} ${pick(['+', '-'])} ${g(pick(['dec', 'int']))})`,
        () => `(${g('dec')} * ${g('int')})`, () => `round(${g('dec')}, ${int(0, 2)})`,
        () => `abs(${g('dec')})`, () => `floor(${g('dec')})`, () => `ceil(${g('dec')})`,
        () => `CASE WHEN ${g('bool')} THEN ${g('dec')} ELSE ${g('dec')} END`,
    ])();
    case 'dbl': return pick([
        () => `(${g(num())} / ${g(num())})`, () => `(${g('dbl')} ${pick(['+', '-', '*'])} ${g(num())})`,
        () => `abs(${g('dbl')})`, () => `floor(${g('dbl')})`, () => `CAST(${g('int')} AS DOUBLE)`,
    ])();
    case 'str': return pick([
        () => `upper(${g('str')})`, () => `lower(${g('str')})`, () => `trim(${g('str')})`,
        () => `(${g('str')} || ${g('str')})`, () => `concat(${g('str')}, ${g('int')})`,
        () => `substr(${g('str')}, ${int(-1, 4)}, ${int(0, 4)})`,
        () => `CASE WHEN ${g('bool')} THEN ${g('str')} ELSE ${g('str')} END`,
        () => `coalesce(${g('str')}, ${g('str')})`, () => `CAST(${g('int')} AS VARCHAR)`,
        () => `strftime(${g('ts')}, '%Y-%m')`,
    ])();
    case 'bool': return pick([
        () => { const t = pick(['int', 'dec', 'str', 'date', 'dbl']);
                return `(${g(t)} ${pick(['=', '<>', '<', '<=', '>', '>='])} ${g(t)})`; },
        () => `(${g('bool')} AND ${g('bool')})`, () => `(${g('bool')} OR ${g('bool')})`,
        () => `(NOT ${g('bool')})`, () => `(${g('int')} IN (${g('int')}, ${g('int')}, ${int(-2, 5)}))`,
        () => `(${g('str')} LIKE '${pick(['%a%', 'b%', '_', '%e_', 'A%'])}')`,
        () => `(${g('str')} ILIKE '${pick(['%A%', 'B%', '_%'])}')`,
        () => `(${g('int')} BETWEEN ${g('int')} AND ${g('int')})`,
        () => `(${g(pick(['int', 'str', 'date']))} IS NULL)`,
    ])();
    case 'date': return pick([
        () => `date_trunc('${pick(['month', 'year', 'week', 'quarter'])}', ${g('date')})`,
        () => `(${g('date')} + ${int(-40, 40)})`, () => `CAST(${g('ts')} AS DATE)`,
        () => `greatest(${g('date')}, ${g('date')})`,
    ])();
    case 'ts': return pick([
        () => `date_trunc('${pick(['hour', 'minute', 'day', 'second'])}', ${g('ts')})`,
        () => `CAST(${g('date')} AS TIMESTAMP)`,
    ])();
    }
    throw new Error('type ' + type);
}
const nrand = Number(nrandArg);
const exprs = fixed.slice();
for (let k = 0; k < nrand; k++)
    exprs.push(gen(pick(['int', 'dec', 'dbl', 'str', 'bool', 'date', 'ts']), int(1, 4)));

// ---- ours -----------------------------------------------------------------------
const ours = execFileSync(sqleval, [csv, COLS, ...exprs], { maxBuffer: 1 << 28 })
    .toString().split('\n');
if (ours[ours.length - 1] === '') ours.pop();
const mine = [];
for (const line of ours) {
    if (line.startsWith('== ')) mine.push([]);
    else if (mine.length) mine[mine.length - 1].push(line);
}

// ---- DuckDB -----------------------------------------------------------------------
const inst = await duckdb.DuckDBInstance.create(':memory:', { threads: '1' });
const con = await inst.connect();
const colmap = COLS.split(/,\s*(?![^()]*\))/).map((c) => {
    const [n, ...t] = c.trim().split(' ');
    return `'${n}': '${t.join(' ')}'`;
}).join(', ');
await con.run(`CREATE TABLE input AS SELECT * FROM read_csv('${csv}', header = true, ` +
              `columns = {${colmap}}, nullstr = '', quote = '"')`);

function close(a, b) {
    if (a === b) return true;
    const x = Number(a), y = Number(b);
    if (a === '' || b === '' || Number.isNaN(x) || Number.isNaN(y)) return false;
    return Math.abs(x - y) <= 1e-12 * Math.max(Math.abs(x), Math.abs(y));
}

let n = 0, failed = 0, refused = 0;
console.log(`1..${exprs.length}`);
for (let k = 0; k < exprs.length; k++) {
    const e = exprs[k], got = mine[k] || ['(no output)'];
    let want = null, werr = null;
    try {
        const r = await con.runAndReadAll(`SELECT CAST((${e}) AS VARCHAR) FROM input`);
        want = r.getRows().map((row) => (row[0] === null ? 'NULL' : String(row[0])));
    } catch (err) {
        werr = String(err.message).split('\n')[0];
    }
    n++;
    let ok, why = '';
    if (werr !== null) {
        refused++;
        ok = got[0].startsWith('BIND ERROR') || got.some((v) => v.startsWith('ERROR'));
        why = `DuckDB: ${werr}; ours: ${got.find((v) => v.includes('ERROR')) || got[0]}`;
    } else if (got[0].startsWith('BIND ERROR')) {
        ok = false;
        why = got[0];
    } else {
        ok = got.length === want.length;
        for (let r = 0; ok && r < want.length; r++) {
            if (!close(got[r], want[r])) {
                ok = false;
                why = `row ${r + 2}: ours '${got[r]}', DuckDB '${want[r]}' (${lines[r + 1]})`;
            }
        }
        if (!ok && !why) why = `ours ${got.length} rows, DuckDB ${want.length}`;
    }
    if (!ok) failed++;
    console.log(`${ok ? 'ok' : 'not ok'} ${n} - ${e.replace(/#/g, '\\#')}${ok ? '' : ' # ' + why}`);
}
console.log(`# ${refused} expressions refused by DuckDB and by us alike`);
console.log(`# ${n - failed} passed, ${failed} failed (seed ${seedArg}, ${NROWS} rows)`);
process.exit(failed ? 1 : 0);
