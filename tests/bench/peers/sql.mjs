// sql.mjs - the SQL peers of the benchmark: one query over one CSV file by
// DuckDB or by Polars' SQL context, the table named `input` as in
// `mpibatch run --sql`, the answer written as CSV.
//   node sql.mjs duckdb|polars IN OUT THREADS SQL TYPES
// TYPES: "name TYPE, ..." (DuckDB type names), the columns as a careful
// user declares them. Polars' thread pool is sized by POLARS_MAX_THREADS,
// set by run.sh before the module loads.
import { createRequire } from 'node:module';

const [engine, input, output, threads, sql, types] = process.argv.slice(2);
if (!types) {
    process.stderr.write('usage: sql.mjs duckdb|polars IN OUT THREADS SQL TYPES\n');
    process.exit(64);
}
const require = createRequire(`${process.env.MB_NODE_DIR}/`);
const cols = types.split(/,\s*/).map((c) => c.trim().split(/\s+/));
const lit = (s) => `'${s.replace(/'/g, "''")}'`;

if (engine === 'duckdb') {
    const { DuckDBInstance } = require('@duckdb/node-api');
    const db = await DuckDBInstance.create(':memory:', { threads: String(threads) });
    const con = await db.connect();
    const src = `read_csv(${lit(input)}, header = true, delim = ',', quote = '"', escape = '"', ` +
                `columns = {${cols.map(([n, t]) => `${lit(n)}: ${lit(t)}`).join(', ')}})`;
    await con.run(`COPY (${sql.replace(/FROM input/, `FROM ${src}`)}) TO ${lit(output)} ` +
                  '(FORMAT csv, HEADER true)');
} else if (engine === 'polars') {
    if (String(threads) !== process.env.POLARS_MAX_THREADS) {
        process.stderr.write(`polars: POLARS_MAX_THREADS must be ${threads}\n`);
        process.exit(64);
    }
    const pl = require('nodejs-polars');
    const PL = { VARCHAR: pl.Utf8, BIGINT: pl.Int64, DOUBLE: pl.Float64, DATE: pl.Date };
    const schema = {};
    for (const [n, t] of cols) schema[n] = PL[t];
    const lf = pl.scanCSV(input, { hasHeader: true, sep: ',', quoteChar: '"', schema });
    const ctx = pl.SQLContext();
    ctx.register('input', lf);
    const df = await ctx.execute(sql).collect();
    df.writeCSV(output);
} else {
    process.stderr.write(`sql.mjs: unknown engine ${engine}\n`);
    process.exit(64);
}
