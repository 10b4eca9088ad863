// Child process: the genuine caller during an attack, sending one cached token at a fixed rate
// (open loop: a request every 1/rate s whatever the answers) and timing each answer. In its own
// process so that the flood generator's load does not delay its clock.
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { serve } from '../rpc.mjs';
import { SampleBuffer } from '../stats.mjs';

serve({
  run({ port, token, rate, seconds, timeoutMs }) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
    const samples = new SampleBuffer(Math.ceil(rate * seconds) + 16);
    let sent = 0;
    let ok = 0;
    let failed = 0;
    let settled = 0;
    return new Promise((resolve) => {
      const total = Math.round(rate * seconds);
      const finish = () => {
        if (settled < total) return;
        agent.destroy();
        const { p50, p99 } = samples.percentiles();
        resolve({ sent, ok, failed, p50ms: p50, p99ms: p99 });
      };
      const one = () => {
        sent++;
        const t0 = performance.now();
        const done = (success) => {
          // A refused or timed-out genuine call counts at the timeout: it did not get through.
          samples.push(success ? performance.now() - t0 : Math.max(timeoutMs, performance.now() - t0));
          if (success) ok++;
          else failed++;
          settled++;
          finish();
        };
        const req = http.get(
          {
            host: '127.0.0.1',
            port,
            path: '/',
            agent,
            timeout: timeoutMs,
            headers: { authorization: `Bearer ${token}` },
          },
          (res) => {
            res.resume();
            res.on('end', () => done(res.statusCode === 200));
          },
        );
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.on('error', () => done(false));
      };
      const start = performance.now();
      const tick = () => {
        // Catch up on the schedule rather than drift: the n-th call is due at start + n / rate.
        const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate) + 1);
        while (sent < due) one();
        if (sent < total) setTimeout(tick, 1000 / rate);
      };
      tick();
    });
  },
});
