/**
 * `histoseek serve` on a network: the token file, access control by token and scope, the
 * hostile-request suite against a server with tokens (with a valid token, none and a wrong one),
 * headers and CORS, the refusal to bind beyond loopback without tokens, HTTPS with a certificate
 * made for the test, and the audit log — its fields, that it holds no secret, and that it survives
 * a SIGKILL. Most through fastify's inject; the command itself where the process matters.
 */
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { AccessTokens } from '../../src/server/access-tokens.js';
import { parseCorsOrigin } from '../../src/server/cors.js';
import { isLoopback, judgeExposure } from '../../src/server/exposure.js';
import { createServer, type ServerOptions } from '../../src/server/serve.js';
import { histoseekWith, startHistoseekWith, temporaryFolder } from '../helpers.js';
import { besideWellFormed, describeHostileRequests, makeDemo, multipart, type Demo } from '../server-fixtures.js';

const ADMIN = 'admin-token-7f3c9a1e5b2d4f60';
const READER = 'reader-token-0c8e2b7a9d1f3e54';
const WRONG = 'admin-token-7f3c9a1e5b2d4f61';
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
/** Tests through fastify's inject; tests that start the command or openssl (each child has its own limit below). */
const TEST_TIMEOUT = 60_000;
const COMMAND_TIMEOUT = 180_000;
/** How long a started server may take to say where it serves, and may run at most. */
const START_LIMIT_MS = 60_000;
const RUN_LIMIT_MS = 150_000;

let tmp: string;
let demo: Demo;
let tokenFile: string;
let app: FastifyInstance;

const serverWith = (o: Partial<ServerOptions> = {}) =>
  createServer({ db: demo.db, webRoot: demo.webRoot, limits: { rate: null }, tokenFile, ...o });

before(
  async () => {
    tmp = await temporaryFolder('histoseek-security-');
    demo = makeDemo(join(tmp, 'demo'));
    tokenFile = join(tmp, 'tokens.txt');
    writeFileSync(tokenFile, `# who may use the server\nadmin:${ADMIN}\n\n  reader : ${READER} : search  \n`);
    app = await serverWith();
  },
  // The demo is built by the command: about 10 s alone, minutes on a busy machine.
  { timeout: 600_000 },
);

after(
  async () => {
    await app?.close();
  },
  { timeout: TEST_TIMEOUT },
);

describe('the token file', () => {
  test(
    'names, tokens and scopes (all by default); comments and blank lines are skipped',
    { timeout: TEST_TIMEOUT },
    () => {
      const tokens = AccessTokens.parse(
        `# a comment\n\nalice:${ADMIN}\nbob:${READER}:search\ncarol:${'c'.repeat(16)}:all\r\n`,
        'tokens.txt',
      );
      assert.deepEqual(tokens.holder(ADMIN), { name: 'alice', scope: 'all' });
      assert.deepEqual(tokens.holder(READER), { name: 'bob', scope: 'search' });
      assert.deepEqual(tokens.holder('c'.repeat(16)), { name: 'carol', scope: 'all' });
      // Near misses: one character off, a prefix, an extension, nothing.
      for (const near of [WRONG, ADMIN.slice(0, -1), `${ADMIN}0`, '', ` ${ADMIN}`])
        assert.equal(tokens.holder(near), null, near);
    },
  );

  test('each problem is an error naming the file and line, never quoting the token', { timeout: TEST_TIMEOUT }, () => {
    const cases: [string, RegExp][] = [
      [`alice:${ADMIN}\njustonefield\n`, /^t\.txt:2: expected 'name:token' or 'name:token:scope', found 1 field/],
      [`alice:${ADMIN}:all:extra\n`, /^t\.txt:1: .*found 4 fields/],
      ['# tokens\nalice:short-token\n', /^t\.txt:2: the token of 'alice' is 11 characters; at least 16/],
      [`alice:${ADMIN}\nalice:${READER}\n`, /^t\.txt:2: the name 'alice' is already used on line 1/],
      [`alice:${ADMIN}\nbob:${ADMIN}\n`, /^t\.txt:2: the token of 'bob' is the same as the one on line 1/],
      [`alice:${ADMIN}:admin\n`, /^t\.txt:1: unknown scope 'admin' for 'alice'; use search or all/],
      [`ali ce:${ADMIN}\n`, /^t\.txt:1: the name must be/],
      ['# nothing here\n\n', /^t\.txt: no tokens/],
    ];
    for (const [text, error] of cases) {
      assert.throws(
        () => AccessTokens.parse(text, 't.txt'),
        (err: Error) => {
          assert.match(err.message, error);
          assert.ok(!err.message.includes(ADMIN) && !err.message.includes('short-token'), err.message);
          return true;
        },
      );
    }
    assert.throws(() => AccessTokens.load(join(tmp, 'absent.txt')), /cannot read the token file .*absent\.txt: ENOENT/);
  });
});

/** Every route of the API and what it needs; `search` routes are open to both tokens. */
const ROUTES: { url: string; needs: 'search' | 'all' }[] = [
  { url: '/api/index', needs: 'search' },
  { url: '/api/search?item=3&k=2', needs: 'search' },
  { url: '/api/items/3', needs: 'search' },
  { url: '/api/items/3/thumbnail', needs: 'search' },
  { url: '/openapi.json', needs: 'search' },
  { url: '/api/report', needs: 'all' },
  { url: '/api/report/confusion.png', needs: 'all' },
  { url: '/api/map?method=pca', needs: 'all' },
  { url: '/api/slides', needs: 'all' },
  { url: '/api/slides/s0', needs: 'all' },
  { url: '/api/slides/s0/tiles/10/0_0.jpeg', needs: 'all' },
];

describe('access control', () => {
  test(
    'without a token, or with a wrong or malformed one, every API route is a 401 with WWW-Authenticate: Bearer',
    { timeout: TEST_TIMEOUT },
    async () => {
      const upload = multipart(readFileSync(demo.patch('s1', 2)));
      const requests: { method: 'GET' | 'POST'; url: string; payload?: Buffer; headers?: Record<string, string> }[] = [
        ...ROUTES.map((r) => ({ method: 'GET' as const, url: r.url })),
        { method: 'POST', url: '/api/search', payload: upload.payload, headers: upload.headers },
        { method: 'GET', url: '/api/nowhere' },
      ];
      const credentials: [Record<string, string>, RegExp, RegExp][] = [
        [{}, /^Bearer realm="histoseek"$/, /needs a token: send the header 'Authorization: Bearer TOKEN'/],
        [bearer(WRONG), /^Bearer realm="histoseek", error="invalid_token"$/, /the token is not valid/],
        [
          { authorization: `Basic ${Buffer.from(`admin:${ADMIN}`).toString('base64')}` },
          /^Bearer realm="histoseek"$/,
          /needs a token/,
        ],
        [{ authorization: 'Bearer' }, /^Bearer realm="histoseek"$/, /needs a token/],
      ];
      for (const [headers, challenge, error] of credentials) {
        for (const r of requests) {
          const answer = await app.inject({ ...r, headers: { ...r.headers, ...headers } });
          const what = `${r.method} ${r.url} with ${JSON.stringify(headers)}`;
          assert.equal(answer.statusCode, 401, what);
          assert.match(String(answer.headers['www-authenticate']), challenge, what);
          assert.match(answer.json().error, error, what);
        }
      }
    },
  );

  test(
    "a valid token opens what its scope allows; a 'search' token gets 403 for slides, tiles, the report and the map, and is not offered them",
    { timeout: TEST_TIMEOUT },
    async () => {
      for (const r of ROUTES) {
        const admin = await app.inject({ url: r.url, headers: bearer(ADMIN) });
        assert.equal(admin.statusCode, 200, `admin ${r.url}: ${admin.body.slice(0, 200)}`);
        const reader = await app.inject({ url: r.url, headers: bearer(READER) });
        if (r.needs === 'search') {
          assert.equal(reader.statusCode, 200, `reader ${r.url}`);
          // The index summary offers each token only what it may open; every other answer is the same for both.
          if (r.url === '/api/index')
            assert.deepEqual(
              [admin.json().features, reader.json().features],
              [
                { report: true, slides: true, map: true },
                { report: false, slides: false, map: false },
              ],
            );
          else
            assert.equal(
              reader.rawPayload.toString('base64'),
              admin.rawPayload.toString('base64'),
              `same answer for ${r.url}`,
            );
        } else {
          assert.equal(reader.statusCode, 403, `reader ${r.url}`);
          assert.match(String(reader.headers['www-authenticate']), /error="insufficient_scope", scope="all"/);
          assert.match(
            reader.json().error,
            /the token of 'reader' has the scope 'search', which does not allow it \(it needs 'all'\)/,
          );
        }
      }
      const upload = multipart(readFileSync(demo.patch('s1', 2)));
      const search = await app.inject({
        method: 'POST',
        url: '/api/search?k=1',
        payload: upload.payload,
        headers: { ...upload.headers, ...bearer(READER) },
      });
      assert.equal(search.statusCode, 200);
      assert.equal(search.json().results[0].path, demo.patch('s1', 2));
      // An unknown path is a 404 once the token is valid, whatever its scope.
      assert.equal((await app.inject({ url: '/api/nowhere', headers: bearer(READER) })).statusCode, 404);
    },
  );

  test(
    'a token in the URL is refused with a 400 that points to the header, even beside a valid header',
    { timeout: TEST_TIMEOUT },
    async () => {
      for (const url of [
        `/api/index?token=${ADMIN}`,
        `/api/items/3/thumbnail?access_token=${ADMIN}`,
        `/api/slides/s0/tiles/10/0_0.jpeg?token=${READER}`,
        `/?token=${ADMIN}`,
      ]) {
        for (const headers of [{}, bearer(ADMIN)]) {
          const r = await besideWellFormed(hostileOn(app, {}), { url, headers });
          assert.equal(r.statusCode, 400, url);
          assert.match(
            r.json().error,
            /a token in the URL \(\?(access_)?token=\) is refused.*'Authorization: Bearer TOKEN'/,
          );
          assert.ok(!r.body.includes(ADMIN) && !r.body.includes(READER));
        }
      }
    },
  );

  test(
    "the page's own files need no token; protected answers vary on Authorization and are cached privately",
    { timeout: TEST_TIMEOUT },
    async () => {
      assert.match((await app.inject('/')).body, /<title>histoseek/);
      assert.equal((await app.inject('/assets/app.js')).statusCode, 200);
      assert.equal((await app.inject('/')).headers.vary, undefined);
      const thumb = await app.inject({ url: '/api/items/3/thumbnail', headers: bearer(READER) });
      assert.equal(thumb.headers.vary, 'Authorization');
      assert.equal(thumb.headers['cache-control'], 'private, max-age=86400');
      assert.equal(
        (await app.inject({ url: '/api/slides/s0/tiles/10/0_0.jpeg', headers: bearer(ADMIN) })).headers[
          'cache-control'
        ],
        'private, max-age=3600',
      );
    },
  );

  test('/openapi.json documents the bearer scheme and the 401/403 answers', { timeout: TEST_TIMEOUT }, async () => {
    const doc = (await app.inject({ url: '/openapi.json', headers: bearer(READER) })).json();
    assert.deepEqual(doc.components.securitySchemes.bearer.scheme, 'bearer');
    for (const op of [doc.paths['/api/search'].get, doc.paths['/api/slides/{id}/tiles/{level}/{tile}'].get]) {
      assert.deepEqual(op.security, [{ bearer: [] }]);
      assert.ok(op.responses['401'] && op.responses['403']);
    }
  });
});

/** The hostile suite's setting on the server with tokens, the hostile requests carrying `headers`. */
function hostileOn(
  server: FastifyInstance,
  headers: Record<string, string>,
  refused: { status: number; error: RegExp } | null = null,
) {
  return {
    app: server,
    demo,
    headers,
    wellFormed: bearer(READER),
    refused,
    withRateLimit: (rate: { perSecond: number; burst: number }) => serverWith({ limits: { rate } }),
  };
}

describeHostileRequests('hostile requests with a valid token', () => hostileOn(app, bearer(ADMIN)));
describeHostileRequests('hostile requests without a token', () =>
  hostileOn(app, {}, { status: 401, error: /needs a token/ }),
);
describeHostileRequests('hostile requests with a wrong token', () =>
  hostileOn(app, bearer(WRONG), { status: 401, error: /not valid/ }),
);

describe('headers and CORS', () => {
  test(
    'CSP without inline script or eval, no framing, nosniff and no referrer, on every kind of answer',
    { timeout: TEST_TIMEOUT },
    async () => {
      for (const r of [
        await app.inject('/'),
        await app.inject('/assets/app.js'),
        await app.inject('/api/index'),
        await app.inject({ url: '/api/index', headers: bearer(READER) }),
        await app.inject({ url: '/api/nowhere', headers: bearer(READER) }),
      ]) {
        const csp = String(r.headers['content-security-policy']);
        const directives = csp.split(/;\s*/);
        for (const directive of [
          "default-src 'self'",
          "script-src 'self'",
          "img-src 'self' blob: data:",
          "object-src 'none'",
          "frame-ancestors 'none'",
          "base-uri 'none'",
        ])
          assert.ok(directives.includes(directive), `${directive} in ${csp}`);
        assert.ok(
          directives.some((d) => /^style-src 'self' 'sha256-[A-Za-z0-9+/]{43}='$/.test(d)),
          csp,
        );
        // Nothing else: neither inline code nor an upgrade of the page's requests to https:// on plain HTTP.
        assert.equal(directives.length, 8, csp);
        assert.ok(!/unsafe-inline|unsafe-eval|upgrade-insecure-requests/.test(csp), csp);
        assert.equal(r.headers['x-content-type-options'], 'nosniff');
        assert.equal(r.headers['referrer-policy'], 'no-referrer');
        assert.equal(r.headers['x-frame-options'], 'DENY');
        assert.equal(r.headers['cross-origin-opener-policy'], 'same-origin');
        assert.equal(r.headers['cross-origin-resource-policy'], 'same-origin');
        // HSTS is for HTTPS only: over plain HTTP it would be ignored, or pin a loopback host name.
        assert.equal(r.headers['strict-transport-security'], undefined);
      }
    },
  );

  test(
    'over HTTPS, HSTS for the host alone; on a refusal or an error, the same headers',
    { timeout: TEST_TIMEOUT },
    async () => {
      const tls = makeCertificate('hsts');
      const secure = await serverWith({ tls, limits: { rate: { perSecond: 1, burst: 1 } } });
      try {
        const answers = [
          await secure.inject({ url: '/api/index', headers: bearer(READER) }),
          await secure.inject({ url: '/api/index', headers: bearer(READER) }),
        ];
        assert.deepEqual(
          answers.map((r) => r.statusCode),
          [200, 429],
        );
        for (const r of answers) {
          assert.equal(r.headers['strict-transport-security'], 'max-age=31536000');
          assert.match(String(r.headers['content-security-policy']), /^default-src 'self';/);
          assert.equal(r.headers['x-frame-options'], 'DENY');
        }
      } finally {
        await secure.close();
      }
    },
  );

  test('no CORS headers by default, whatever the origin or the method', { timeout: TEST_TIMEOUT }, async () => {
    const origin = { origin: 'https://elsewhere.example.org' };
    const answers = [
      await app.inject({ url: '/api/index', headers: { ...origin, ...bearer(READER) } }),
      await app.inject({
        method: 'OPTIONS',
        url: '/api/index',
        headers: {
          ...origin,
          'access-control-request-method': 'GET',
          'access-control-request-headers': 'authorization',
        },
      }),
    ];
    for (const r of answers)
      assert.deepEqual(
        Object.keys(r.headers).filter((h) => h.startsWith('access-control-')),
        [],
      );
    assert.equal(answers[1].statusCode, 401);
  });

  test(
    '--cors ORIGIN: that origin only, its preflight answered without a token',
    { timeout: TEST_TIMEOUT },
    async () => {
      const allowed = 'https://viewer.example.org';
      const cors = await serverWith({ corsOrigin: allowed });
      try {
        const get = await cors.inject({ url: '/api/index', headers: { origin: allowed, ...bearer(READER) } });
        assert.equal(get.statusCode, 200);
        assert.equal(get.headers['access-control-allow-origin'], allowed);
        assert.equal(get.headers.vary, 'Origin, Authorization');
        // With --cors every answer may differ by Origin, so each says so to caches, the page's included.
        assert.equal((await cors.inject('/')).headers.vary, 'Origin');
        const preflight = await cors.inject({
          method: 'OPTIONS',
          url: '/api/search',
          headers: {
            origin: allowed,
            'access-control-request-method': 'POST',
            'access-control-request-headers': 'authorization',
          },
        });
        assert.equal(preflight.statusCode, 204);
        assert.equal(preflight.headers['access-control-allow-origin'], allowed);
        assert.match(String(preflight.headers['access-control-allow-headers']), /Authorization/);
        assert.match(String(preflight.headers['access-control-allow-methods']), /POST/);
        // The preflight says nothing about access: the request itself still needs its token.
        assert.equal((await cors.inject({ url: '/api/index', headers: { origin: allowed } })).statusCode, 401);
        for (const origin of ['https://viewer.example.org.evil.example', 'http://viewer.example.org', 'null']) {
          const other = await cors.inject({
            method: 'OPTIONS',
            url: '/api/search',
            headers: { origin, 'access-control-request-method': 'POST' },
          });
          assert.equal(other.headers['access-control-allow-origin'], undefined, origin);
          assert.notEqual(other.statusCode, 204, origin);
        }
      } finally {
        await cors.close();
      }
      assert.equal(parseCorsOrigin('https://viewer.example.org/'), allowed);
      assert.throws(() => parseCorsOrigin('viewer.example.org'), /--cors 'viewer\.example\.org' is not an origin/);
      assert.throws(() => parseCorsOrigin('https://viewer.example.org/app'), /no path/);
    },
  );
});

describe('rate limits', () => {
  test(
    'past the burst a 429 in the error shape with Retry-After, before access control, per address (IPv6 by /64), in the audit log',
    { timeout: TEST_TIMEOUT },
    async () => {
      const origin = 'https://viewer.example.org';
      const auditLog = join(tmp, 'rate-audit.jsonl');
      // 0.5 per second: no token comes back while the test runs.
      const limited = await serverWith({
        auditLog,
        corsOrigin: origin,
        limits: { rate: { perSecond: 0.5, burst: 3 } },
      });
      const lines = () =>
        readFileSync(auditLog, 'utf8')
          .trimEnd()
          .split('\n')
          .map((l) => JSON.parse(l) as Record<string, unknown>);
      try {
        const from = (remoteAddress: string, o: InjectOptions) => limited.inject({ remoteAddress, ...o });
        const burst = [
          await from('10.0.0.7', { url: '/api/index', headers: bearer(READER) }),
          // An unknown path without a token takes a token too.
          await from('10.0.0.7', { url: '/api/nowhere' }),
          // A preflight is answered before the limit, and takes none.
          await from('10.0.0.7', {
            method: 'OPTIONS',
            url: '/api/search',
            headers: { origin, 'access-control-request-method': 'POST' },
          }),
          await from('10.0.0.7', { url: '/api/items/3', headers: bearer(READER) }),
        ];
        assert.deepEqual(
          burst.map((r) => [r.statusCode, r.headers['x-ratelimit-limit'], r.headers['x-ratelimit-remaining']]),
          [
            [200, '3', '2'],
            [401, '3', '1'],
            [204, undefined, undefined],
            [200, '3', '0'],
          ],
        );
        // Past the burst the token is not even looked at: a valid one and a wrong one both get the 429.
        for (const token of [READER, WRONG]) {
          const refused = await from('10.0.0.7', { url: '/api/index', headers: { ...bearer(token), origin } });
          assert.equal(refused.statusCode, 429);
          assert.match(String(refused.headers['content-type']), /^application\/json/);
          const error = refused.json().error as string;
          const wait =
            /^too many requests from 10\.0\.0\.7: the limit is 0\.5 per second \(bursts of 3\); retry in (\d+\.\d) s$/.exec(
              error,
            );
          assert.ok(wait, error);
          // One token at 0.5 per second: at most 2 s away, and Retry-After is that wait in whole seconds.
          assert.ok(Number(wait[1]) > 1 && Number(wait[1]) <= 2, error);
          assert.equal(refused.headers['retry-after'], String(Math.ceil(Number(wait[1]))));
          assert.equal(refused.headers['www-authenticate'], undefined);
          assert.equal(refused.headers['access-control-allow-origin'], origin);
          assert.match(String(refused.headers['content-security-policy']), /frame-ancestors 'none'/);
        }
        // Another address is served; an IPv6 client is one address per /64, as it holds all of them.
        assert.equal((await from('10.0.0.8', { url: '/api/index', headers: bearer(READER) })).statusCode, 200);
        const v6 = [];
        for (const address of ['2001:db8::1', '2001:db8::2', '2001:db8::3:4', '2001:db8::5', '2001:db8:0:1::1'])
          v6.push((await from(address, { url: '/api/index', headers: bearer(READER) })).statusCode);
        assert.deepEqual(v6, [200, 200, 200, 429, 200]);
      } finally {
        await limited.close();
      }
      // The refusals are in the audit log, with no token name: access control never saw them.
      const refusals = lines().filter((l) => l.status === 429);
      assert.equal(refusals.length, 3);
      for (const line of refusals) assert.deepEqual([line.token, line.method, line.route], [null, 'GET', '/api/index']);
      assert.deepEqual(
        lines().map((l) => l.status),
        [200, 401, 204, 200, 429, 429, 200, 200, 200, 200, 429, 200],
      );
    },
  );
});

/** Runs `histoseek serve ARGS`; resolves once it says where it serves (or rejects with its stderr if it exits first). */
function startCommand(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ child: ChildProcess; url: string; stderr: () => string }> {
  const serve = startHistoseekWith({ env }, 'serve', '--db', demo.db, '--port', '0', ...args);
  const { child } = serve;
  // However the test ends, the server is killed after RUN_LIMIT_MS.
  const limit = setTimeout(() => child.kill('SIGKILL'), RUN_LIMIT_MS).unref();
  child.once('exit', () => clearTimeout(limit));
  return new Promise((resolve, reject) => {
    const late = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`serve did not say where it serves within ${START_LIMIT_MS} ms: ${serve.stderr()}`));
    }, START_LIMIT_MS);
    child.stdout!.on('data', () => {
      const url = /serving .* at (\S+) /.exec(serve.stdout())?.[1];
      if (url) {
        clearTimeout(late);
        resolve({ child, url, stderr: serve.stderr });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(late);
      reject(new Error(`serve exited with ${code}: ${serve.stderr()}`));
    });
  });
}

/** SIGTERM, then SIGKILL if the server has not exited 10 s later. */
const stop = (child: ChildProcess) =>
  new Promise<void>((done) => {
    if (child.exitCode !== null || child.signalCode !== null) return done();
    const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(kill);
      done();
    });
    child.kill('SIGTERM');
  });

describe('binding beyond loopback', () => {
  test('loopback is 127.0.0.0/8, ::1 and localhost; nothing else', { timeout: TEST_TIMEOUT }, () => {
    for (const host of [
      '127.0.0.1',
      '127.8.9.10',
      'localhost',
      'LOCALHOST',
      '::1',
      '[::1]',
      '0:0:0:0:0:0:0:1',
      '::ffff:127.0.0.1',
    ])
      assert.ok(isLoopback(host), host);
    for (const host of [
      '0.0.0.0',
      '::',
      '10.0.0.5',
      '192.168.1.20',
      '128.0.0.1',
      'example.org',
      'localhost.example.org',
      '::ffff:10.0.0.1',
      '::2',
    ])
      assert.ok(!isLoopback(host), host);
  });

  test(
    'without tokens it is refused unless --insecure-no-auth; plain HTTP is warned about',
    { timeout: TEST_TIMEOUT },
    () => {
      assert.deepEqual(judgeExposure({ host: '127.0.0.1', tokens: false, insecureNoAuth: false, tls: false }), {
        warnings: [],
      });
      const refused = judgeExposure({ host: '0.0.0.0', tokens: false, insecureNoAuth: false, tls: true });
      assert.ok('refusal' in refused);
      assert.match(
        refused.refusal,
        /refusing to serve on 0\.0\.0\.0 without access control.*--token-file FILE.*HISTOSEEK_TOKEN_FILE.*--insecure-no-auth/,
      );
      const insecure = judgeExposure({ host: '0.0.0.0', tokens: false, insecureNoAuth: true, tls: true });
      assert.ok(
        'warnings' in insecure &&
          insecure.warnings.length === 1 &&
          /no access control \(--insecure-no-auth\)/.test(insecure.warnings[0]),
      );
      const plain = judgeExposure({ host: '10.0.0.5', tokens: true, insecureNoAuth: false, tls: false });
      assert.ok(
        'warnings' in plain &&
          plain.warnings.length === 1 &&
          /plain HTTP on 10\.0\.0\.5: tokens, queries and images cross the network unencrypted; give --tls-cert/.test(
            plain.warnings[0],
          ),
      );
      assert.deepEqual(judgeExposure({ host: '10.0.0.5', tokens: true, insecureNoAuth: false, tls: true }), {
        warnings: [],
      });
    },
  );

  test(
    'the command exits 2 on 0.0.0.0 without a token file, and says how to fix it',
    { timeout: COMMAND_TIMEOUT },
    () => {
      const r = histoseekWith(
        { env: { HISTOSEEK_TOKEN_FILE: '' }, timeout: 30_000 },
        'serve',
        '--db',
        demo.db,
        '--host',
        '0.0.0.0',
        '--port',
        '0',
      );
      assert.equal(r.status, 2, r.stderr);
      assert.match(
        r.stderr,
        /^histoseek: refusing to serve on 0\.0\.0\.0 without access control.*--token-file.*--insecure-no-auth\n$/,
      );
      assert.equal(r.stdout, '');
      const half = histoseekWith({ timeout: 30_000 }, 'serve', '--db', demo.db, '--tls-cert', 'cert.pem');
      assert.equal(half.status, 1);
      assert.match(half.stderr, /--tls-cert and --tls-key go together/);
    },
  );

  test(
    '--insecure-no-auth starts it with a warning; HISTOSEEK_TOKEN_FILE stands in for --token-file',
    { timeout: COMMAND_TIMEOUT },
    async () => {
      const insecure = await startCommand(['--host', '0.0.0.0', '--insecure-no-auth']);
      try {
        assert.match(
          insecure.stderr(),
          /histoseek: warning: serving on 0\.0\.0\.0 with no access control \(--insecure-no-auth\)/,
        );
        const port = new URL(insecure.url).port;
        assert.equal((await fetch(`http://127.0.0.1:${port}/api/index`)).status, 200);
      } finally {
        await stop(insecure.child);
      }
      const viaEnv = await startCommand(['--host', '0.0.0.0'], { HISTOSEEK_TOKEN_FILE: tokenFile });
      try {
        assert.doesNotMatch(viaEnv.stderr(), /no access control/);
        assert.match(viaEnv.stderr(), /warning: serving plain HTTP on 0\.0\.0\.0/);
        const port = new URL(viaEnv.url).port;
        assert.equal((await fetch(`http://127.0.0.1:${port}/api/index`)).status, 401);
        assert.equal((await fetch(`http://127.0.0.1:${port}/api/index`, { headers: bearer(READER) })).status, 200);
      } finally {
        await stop(viaEnv.child);
      }
    },
  );
});

/** An HTTPS request that trusts only `ca`. */
function get(
  url: string,
  ca: Buffer,
  o: { method?: string; headers?: Record<string, string>; body?: Buffer } = {},
): Promise<{ status: number; body: Buffer; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method: o.method ?? 'GET', headers: o.headers, ca }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks), headers: res.headers }));
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

/** A self-signed certificate for localhost and 127.0.0.1, made now with openssl. */
function makeCertificate(name: string): { cert: string; key: string } {
  const files = { cert: join(tmp, `${name}.cert.pem`), key: join(tmp, `${name}.key.pem`) };
  const r = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout',
      files.key,
      '-out',
      files.cert,
    ],
    { encoding: 'utf8', timeout: 30_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  return files;
}

describe('TLS and the audit log', () => {
  test(
    'a missing certificate or key, or a key that is not the certificate’s, is an error naming the files',
    { timeout: COMMAND_TIMEOUT },
    async () => {
      const one = makeCertificate('one');
      const two = makeCertificate('two');
      await assert.rejects(
        serverWith({ tls: { cert: join(tmp, 'absent.pem'), key: one.key } }),
        /--tls-cert .*absent\.pem: cannot read it: ENOENT/,
      );
      await assert.rejects(
        serverWith({ tls: { cert: one.cert, key: join(tmp, 'absent.pem') } }),
        /--tls-key .*absent\.pem: cannot read it: ENOENT/,
      );
      await assert.rejects(
        serverWith({ tls: { cert: one.cert, key: two.key } }),
        /--tls-cert .*one\.cert\.pem with --tls-key .*two\.key\.pem: .*key values mismatch/,
      );
      await assert.rejects(
        serverWith({ tls: { cert: tokenFile, key: one.key } }),
        /--tls-cert .*tokens\.txt with --tls-key/,
      );
    },
  );

  test('an audit log that cannot be opened stops the start, naming the file', { timeout: TEST_TIMEOUT }, async () => {
    await assert.rejects(
      serverWith({ auditLog: join(tmp, 'no-such-folder', 'audit.jsonl') }),
      /cannot open the audit log .*no-such-folder\/audit\.jsonl: ENOENT/,
    );
  });

  test(
    'HTTPS with tokens; the audit log has one whole line per request, no token or image bytes, and survives a SIGKILL',
    { timeout: COMMAND_TIMEOUT },
    async () => {
      const tls = makeCertificate('server');
      const ca = readFileSync(tls.cert);
      const auditLog = join(tmp, 'audit.jsonl');
      const server = await startCommand([
        '--tls-cert',
        tls.cert,
        '--tls-key',
        tls.key,
        '--token-file',
        tokenFile,
        '--audit-log',
        auditLog,
      ]);
      const upload = multipart(readFileSync(demo.patch('s2', 5)), { filename: 'secret-patient-name.png' });
      const marker = readFileSync(demo.patch('s2', 5)).subarray(64, 128);
      const tile = '/api/slides/s0/tiles/10/0_0.jpeg';
      const expected: { request: () => Promise<{ status: number; body: Buffer }>; line: Record<string, unknown> }[] = [
        {
          request: () => get(`${server.url}api/index`, ca, { headers: bearer(ADMIN) }),
          line: { token: 'admin', method: 'GET', route: '/api/index', status: 200 },
        },
        {
          request: () =>
            get(`${server.url}api/search?k=3`, ca, {
              method: 'POST',
              headers: { ...upload.headers, ...bearer(READER) },
              body: upload.payload,
            }),
          line: { token: 'reader', method: 'POST', route: '/api/search', status: 200 },
        },
        {
          request: () => get(`${server.url}api/search?item=4&k=2&exclude_slide=s1`, ca, { headers: bearer(ADMIN) }),
          line: { token: 'admin', method: 'GET', route: '/api/search', item: '4', slide: 's1', status: 200 },
        },
        {
          request: () => get(`${server.url}api/items/5/thumbnail`, ca, { headers: bearer(READER) }),
          line: { token: 'reader', method: 'GET', route: '/api/items/:id/thumbnail', item: '5', status: 200 },
        },
        {
          request: () => get(`${server.url}${tile.slice(1)}`, ca, { headers: bearer(READER) }),
          line: {
            token: 'reader',
            method: 'GET',
            route: '/api/slides/:id/tiles/:level/:tile',
            slide: 's0',
            region: '10/0_0.jpeg',
            status: 403,
          },
        },
        {
          request: () => get(`${server.url}${tile.slice(1)}`, ca, { headers: bearer(ADMIN) }),
          line: {
            token: 'admin',
            method: 'GET',
            route: '/api/slides/:id/tiles/:level/:tile',
            slide: 's0',
            region: '10/0_0.jpeg',
            status: 200,
          },
        },
        {
          request: () => get(`${server.url}api/items/6`, ca, { headers: bearer(WRONG) }),
          line: { token: null, method: 'GET', route: '/api/items/:id', item: '6', status: 401 },
        },
        {
          request: () => get(`${server.url}api/index?token=${ADMIN}`, ca),
          line: { token: null, method: 'GET', route: '/api/index', status: 400 },
        },
        {
          request: () => get(`${server.url}no/such/${ADMIN}`, ca, { headers: bearer(ADMIN) }),
          line: { token: 'admin', method: 'GET', route: null, status: 404 },
        },
      ];
      try {
        assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+\/$/);
        const statuses: number[] = [];
        for (const e of expected) statuses.push((await e.request()).status);
        assert.deepEqual(
          statuses,
          expected.map((e) => e.line.status),
        );
        // Killed at once after the last answer: whatever was logged is on disk, as whole lines.
        server.child.kill('SIGKILL');
        await new Promise((done) => server.child.once('exit', done));
      } finally {
        server.child.kill('SIGKILL');
      }
      const text = readFileSync(auditLog, 'utf8');
      assert.ok(text.endsWith('\n'), 'the log ends with a whole line');
      const lines = text
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      // The answer to the last request may leave before its line is written; every earlier one is there.
      assert.ok(lines.length >= expected.length - 1 && lines.length <= expected.length, `${lines.length} lines`);
      lines.forEach((line, i) => {
        const { time, ms, level, ...rest } = line;
        assert.deepEqual(rest, expected[i].line, `line ${i + 1}`);
        assert.equal(level, 30);
        assert.ok(Math.abs(Date.parse(String(time)) - Date.now()) < 120_000, `time ${String(time)}`);
        assert.ok(typeof ms === 'number' && ms >= 0 && ms < 30_000, `ms ${String(ms)}`);
      });
      for (const secret of [ADMIN, READER, WRONG, 'secret-patient-name'])
        assert.ok(!text.includes(secret), `the log holds ${secret}`);
      for (const encoding of ['latin1', 'hex', 'base64'] as const)
        assert.ok(!text.includes(marker.toString(encoding).slice(0, 24)), `image bytes (${encoding})`);
    },
  );
});
