// duckdb.mjs - the DuckDB peer: one group-by query on one CSV file, result
// written as CSV (header = keys then the aggregates as written, rows ordered
// by key). Reads with an explicit header and column types, as a careful user
// would. Arguments: see query.mjs. Needs NODE_PATH-free resolution through
// MB_NODE_DIR (where run.sh installed @duckdb/node-api).
import { createRequire } from 'node:module';
import { parseArgs, headerOf, roles } from './query.mjs';

const q = parseArgs(process.argv.slice(2));
const require = createRequire(`${process.env.MB_NODE_DIR}/`);
const { DuckDBInstance } = require('@duckdb/node-api');

const ident = (s) => `"${s.replace(/"/g, '""')}"`;
const lit = (s) => `'${s.replace(/'/g, "''")}'`;
const SQL_TYPE = { key: 'VARCHAR', int: 'BIGINT', float: 'DOUBLE', other: 'VARCHAR' };
const SQL_AGG = { 'count(*)': () => 'count(*)', count: (c) => `count(${c})`,
                  sum: (c) => `sum(${c})`, mean: (c) => `avg(${c})`, min: (c) => `min(${c})`,
                  max: (c) => `max(${c})`, var: (c) => `var_samp(${c})`,
                  stddev: (c) => `stddev_samp(${c})` };

const names = headerOf(q.input);
const types = roles(q, names).map((r, i) => `${lit(names[i])}: ${lit(SQL_TYPE[r])}`);
const keys = q.keys.map(ident).join(', ');
const aggs = q.aggs.map((a) => `${SQL_AGG[a.kind](a.col && ident(a.col))} AS ${ident(a.text)}`);
const sql = `COPY (SELECT ${keys}, ${aggs.join(', ')}
  FROM read_csv(${lit(q.input)}, header = true, delim = ',', quote = '"', escape = '"',
                columns = {${types.join(', ')}})
  GROUP BY ${keys} ORDER BY ${keys}) TO ${lit(q.output)} (FORMAT csv, HEADER true)`;

const db = await DuckDBInstance.create(':memory:', { threads: String(q.threads) });
const con = await db.connect();
await con.run(`SET threads = ${q.threads}`);
await con.run(sql);
