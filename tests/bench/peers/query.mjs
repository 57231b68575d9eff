// query.mjs - the benchmark's query arguments, shared by the Node.js peers.
// Usage of a peer: node PEER.mjs IN OUT THREADS GROUP_BY AGGS [INT_COLS]
//   GROUP_BY  comma-separated key columns ("id1,id2")
//   AGGS      mpibatch's aggregate list ("count(*),sum(v1),stddev(v3)")
//   INT_COLS  value columns a user would declare as integers ("v1")
// It only parses; it knows nothing of either engine.
import { openSync, readSync, closeSync } from 'node:fs';

const KINDS = { count: 'count', sum: 'sum', mean: 'mean', avg: 'mean', min: 'min',
                max: 'max', var: 'var', stddev: 'stddev' };

export function parseArgs(argv) {
    if (argv.length < 5) {
        process.stderr.write('usage: PEER IN OUT THREADS GROUP_BY AGGS [INT_COLS]\n');
        process.exit(64);
    }
    const [input, output, threads, groupBy, aggs, ints = ''] = argv;
    const keys = groupBy.split(',').filter(Boolean);
    const list = aggs.split(',').map((s) => s.trim()).filter(Boolean).map((text) => {
        const m = /^([a-z]+)\((\*|[A-Za-z0-9_]+)\)$/.exec(text);
        if (!m || !KINDS[m[1]]) {
            process.stderr.write(`bad aggregate ${text}\n`);
            process.exit(64);
        }
        const kind = m[2] === '*' ? 'count(*)' : KINDS[m[1]];
        return { text, kind, col: m[2] === '*' ? null : m[2] };
    });
    return { input, output, threads: Number(threads), keys, aggs: list,
             ints: new Set(ints.split(',').filter(Boolean)) };
}

// The column names of the header line (plain names, no quoting).
export function headerOf(path) {
    const fd = openSync(path, 'r');
    const buf = Buffer.alloc(65536);
    const n = readSync(fd, buf, 0, buf.length, 0);
    closeSync(fd);
    const line = buf.subarray(0, n).toString('utf8').split('\n')[0].replace(/\r$/, '');
    return line.split(',');
}

// 'key', 'int', 'float' or 'other' for every column of the file.
export function roles(q, names) {
    const vals = new Set(q.aggs.filter((a) => a.col).map((a) => a.col));
    return names.map((n) => q.keys.includes(n) ? 'key' : vals.has(n)
        ? (q.ints.has(n) ? 'int' : 'float') : 'other');
}
