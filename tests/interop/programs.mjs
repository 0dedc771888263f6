// The programs under test as child processes, for the interop scripts:
// start one (its pid goes to pidFile so the calling shell can kill it even
// if node dies), learn its ws:// URL from its "listening on" log line, and
// stop it with a bounded wait.
import { spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// bin: the build directory; verbose: copy each program's stderr, tagged.
export function programs({ bin, pidFile, verbose }) {
  const children = [];
  function start(program, argv, tag) {
    const p = spawn(`${bin}/${program}`, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
    if (pidFile) appendFileSync(pidFile, `${p.pid}\n`);
    children.push(p);
    p.log = '';
    p.stderr.on('data', (d) => {
      p.log += d.toString();
      if (verbose) process.stderr.write(`[${tag}] ${d}`);
    });
    p.url = new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${tag}: no start line\n${p.log}`)), 15000);
      p.stderr.on('data', () => {
        const m = p.log.match(/listening on (ws:\/\/[0-9.]+:\d+\/)/);
        if (m) {
          clearTimeout(t);
          resolve(m[1]);
        }
      });
      p.on('exit', (code) => reject(new Error(`${tag} exited ${code}\n${p.log}`)));
    });
    p.url.catch(() => {});
    return p;
  }
  return { children, start };
}

// The exit code, or 'timeout' after 15 s.
export async function stop(p, signal = 'SIGTERM') {
  if (p.exitCode !== null || p.signalCode !== null) return p.exitCode;
  const done = new Promise((r) => p.on('exit', (code) => r(code)));
  p.kill(signal);
  return Promise.race([done, sleep(15000).then(() => 'timeout')]);
}
