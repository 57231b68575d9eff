// polars.mjs - the Polars peer (nodejs-polars): scanCSV with an explicit
// schema, groupBy + agg, sort by key, result written as CSV like mpibatch's.
// Its thread pool is sized by POLARS_MAX_THREADS, which must be set in the
// environment before the module loads (run.sh does); THREADS is checked
// against it. Arguments: see query.mjs.
import { createRequire } from 'node:module';
import { parseArgs, headerOf, roles } from './query.mjs';

const q = parseArgs(process.argv.slice(2));
if (String(q.threads) !== process.env.POLARS_MAX_THREADS) {
    process.stderr.write(`polars: POLARS_MAX_THREADS must be ${q.threads}\n`);
    process.exit(64);
}
const require = createRequire(`${process.env.MB_NODE_DIR}/`);
const pl = require('nodejs-polars');

const PL_TYPE = { key: pl.Utf8, int: pl.Int64, float: pl.Float64, other: pl.Utf8 };
const PL_AGG = { 'count(*)': () => pl.len(), count: (c) => pl.col(c).count(),
                 sum: (c) => pl.col(c).sum(), mean: (c) => pl.col(c).mean(),
                 min: (c) => pl.col(c).min(), max: (c) => pl.col(c).max(),
                 var: (c) => pl.col(c).var(), stddev: (c) => pl.col(c).std() };

const names = headerOf(q.input);
const schema = {};
roles(q, names).forEach((r, i) => { schema[names[i]] = PL_TYPE[r]; });
const df = await pl.scanCSV(q.input, { hasHeader: true, sep: ',', quoteChar: '"', schema })
    .groupBy(q.keys)
    .agg(...q.aggs.map((a) => PL_AGG[a.kind](a.col).alias(a.text)))
    .sort(q.keys)
    .collect();
df.writeCSV(q.output);
