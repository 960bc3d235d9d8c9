// MCP servers (Model Context Protocol) gated by task tokens, what `tasktoken/mcp` loads: every
// request an AI agent sends through an MCP server's Streamable HTTP endpoint carries a task
// token, and each tool call is checked against it — tool `NAME` is action `tools:call` on
// resource `tools/NAME`, prompt `NAME` is `prompts:get` on `prompts/NAME` (DESIGN.md, "MCP
// servers"). The token checks are the guard's (./guard.js: Bearer and DPoP, the challenges);
// this file reads JSON-RPC bodies, maps calls to actions, and speaks the MCP authorization
// spec: 401 with `resource_metadata`, 403 `insufficient_scope` with `scope`, and the RFC 9728
// Protected Resource Metadata document.
//
// Web APIs only. The SDK (@modelcontextprotocol/sdk) is an optional peer: nothing here imports
// it at module top; only `verifyAccessToken`, which exists for the SDK's own bearer-auth
// middleware, loads its error classes when it has to throw one.
import { refusalEvent } from "../wasm/verify/tasktoken.js";
import { TaskTokenError } from "./errors.js";
import { decideRequest, headerValue, refusalFor } from "./guard.js";
import { parseHttpUrl, readBody } from "./http.js";
import { hasMethod, isInstance, ownValue, parseClaims, snapshotObject } from "./input.js";
import { RemoteKeySet } from "./keys.js";
import { RevocationReplica } from "./revocation.js";
import { bad, emit } from "./util.js";
import { Verifier } from "./verify.js";

/** The JSON-RPC methods that are calls, as `[action, resource prefix]` (DESIGN.md). */
const CALLS = Object.freeze({
  __proto__: null,
  "tools/call": Object.freeze(["tools:call", "tools/"]),
  "prompts/get": Object.freeze(["prompts:get", "prompts/"]),
});
/**
 * The actions an MCP server's task tokens carry (its `scopes_supported`):
 * `["tools:call", "prompts:get"]`.
 * @type {readonly ["tools:call", "prompts:get"]}
 */
export const MCP_SCOPES = Object.freeze(["tools:call", "prompts:get"]);
/**
 * What a request that calls nothing (initialize, tools/list, notifications, the GET stream)
 * is verified for. No token is meant to grant it: the verifier checks everything else first
 * (signature, issuer, audience, time, lifetime, revocation, binding and proof) and only then
 * the action, so `action_denied` or `resource_denied` here means "a valid token for this
 * server". Audit listeners see these requests under this action.
 */
const AUTHENTICATE = Object.freeze({ action: "mcp:connect", resource: "mcp" });
const FORBIDDEN = new Set(["action_denied", "resource_denied"]);
/** The DPoP proof algorithms the verifier accepts (RFC 9449 §5.1, RFC 9728 §2). */
const PROOF_ALGS = Object.freeze(["EdDSA", "ES256"]);
/** The SDK transport's defaults: a 4 MiB body, at most 100 messages in a batch. */
const DEFAULT_MAX_BODY = 4 * 1024 * 1024;
const MAX_BATCH = 100;
/** RFC 9728 §3: the well-known path, inserted between the host and the resource's path. */
const WELL_KNOWN = "/.well-known/oauth-protected-resource";
/** JSON-RPC 2.0 codes, as the SDK's transport uses them for HTTP-level refusals. */
const PARSE_ERROR = -32700;
const INVALID_REQUEST = -32600;
const REFUSED = -32000;
/** The SDK transport's answer to a session it does not hold (and ours to one not the token's). */
const SESSION_NOT_FOUND = -32001;
/** Sessions remembered at most (least recently used dropped first): an owner is ~100 bytes. */
const DEFAULT_MAX_SESSIONS = 10_000;
/** The options `McpGate` reads; any other member is a typo, refused. */
const GATE_OPTIONS = new Set([
  "resource", "verifier", "service", "issuer", "authorizationServers", "requireBinding",
  "resourceName", "resourceDocumentation", "maxBodyBytes", "dpopNonce", "onDecision",
  "keysInterval", "revocationInterval", "fetch", "onError", "maxSessions",
]);

/**
 * The task-token gate of one MCP server (one Streamable HTTP endpoint, one `resource`).
 *
 * - `check(request)` (Fetch API: Workers, Deno, Bun, Node's `Request`) and `node(req, res,
 *   next?)` (Node's `http` server, Express) decide each request: they answer the Protected
 *   Resource Metadata document at `metadataPath`, and otherwise require a task token
 *   (`Authorization: Bearer`, or `DPoP` with a proof for bound tokens) valid for `resource`,
 *   and that grants every call in the JSON-RPC body (`tools:call` on `tools/NAME`,
 *   `prompts:get` on `prompts/NAME`). What passes carries the SDK's `AuthInfo` (handlers see
 *   it as `extra.authInfo`) and the parsed body, to hand to the transport's `handleRequest`.
 * - Sessions: the `Mcp-Session-Id` a transport answers `initialize` with is bound to the
 *   identity of the token that opened it (root `iss` and `sub`, and a chain's last `sub`);
 *   a request naming a session must come with a token of that identity, else 404 "Session
 *   not found" before the transport sees it. `node` sees the answer itself; with `check`,
 *   pass the transport's Response through `record` (or use `handle`).
 * - `verifyAccessToken(token)`: the gate as the SDK's `OAuthTokenVerifier`, for its
 *   `requireBearerAuth` middleware (Bearer only, no per-call check).
 * - `metadata()`: the RFC 9728 document naming the token service as authorization server.
 */
export class McpGate {
  #resource;
  #metadataUrl;
  #metadataPath;
  #origin;
  #verifier;
  #keys;
  #replica;
  #authorizationServers;
  #requireBinding;
  #resourceName;
  #resourceDocumentation;
  #maxBody;
  #dpopNonce;
  #onDecision;
  #sessions;

  /**
   * @param {McpGateOptions} options
   *   `resource`: this server's canonical URI (`https://mcp.example.com/mcp`: http(s), no
   *   query, fragment or credentials, lowercase scheme and host): the RFC 8707 resource
   *   indicator clients ask tokens for, and so the `aud` every token must carry.
   *   Then either `verifier`, a Verifier whose `audience` is `resource` (and which should
   *   follow revocation: `revocation: replica`), or `service`: the token service's base URL,
   *   whose keys (`<service>/.well-known/jwks.json`, a RemoteKeySet refreshed every
   *   `keysInterval` s, default 300) and revocation data (`<service>/revocation`, a
   *   RevocationReplica refreshed every `revocationInterval` s, default 5) the gate follows
   *   for tokens of `issuer` (the service's `issuer`), through a Verifier for `resource` that
   *   it builds; `await gate.ready()` before serving.
   *   `authorizationServers`: the metadata's `authorization_servers` (issuer identifiers;
   *   default `[issuer]`, required with `verifier` when no `issuer` is given).
   *   `requireBinding`: only DPoP-bound tokens (announced as
   *   `dpop_bound_access_tokens_required`). `maxBodyBytes`: the largest JSON-RPC body read
   *   (default 4 MiB, as the SDK's transport). `dpopNonce`: DPoP proofs must carry this
   *   server nonce (see `guard`). `onDecision`: each request's audit event.
   *   `maxSessions`: MCP sessions whose owner the gate remembers (default 10,000; the least
   *   recently used is forgotten first, and then answered 404 like an unknown session).
   *   A missing or wrong member, or any other member, is `malformed`.
   */
  constructor(options) {
    const o = snapshotObject(options, "McpGate options");
    for (const name of Object.keys(o)) {
      if (!GATE_OPTIONS.has(name)) throw bad(`McpGate does not take ${JSON.stringify(name).slice(0, 40)}`);
    }
    const resource = canonicalResource(o.resource);
    this.#resource = resource.text;
    this.#origin = resource.url.origin;
    const path = resource.url.pathname === "/" ? "" : resource.url.pathname;
    this.#metadataPath = `${WELL_KNOWN}${path}`;
    this.#metadataUrl = `${resource.url.origin}${this.#metadataPath}`;

    const { verifier, service, issuer } = o;
    if (issuer !== undefined && (typeof issuer !== "string" || issuer.length === 0)) {
      throw bad("McpGate issuer must be a non-empty string: the token service's `issuer`");
    }
    if ((verifier === undefined) === (service === undefined)) {
      throw bad("McpGate needs exactly one of verifier (a Verifier for resource) or service (the token service's URL)");
    }
    for (const name of ["keysInterval", "revocationInterval"]) {
      if (o[name] !== undefined && service === undefined) throw bad(`${name} needs service`);
    }
    if (verifier !== undefined) {
      if (!isInstance(verifier, Verifier)) throw bad("McpGate verifier must be a tasktoken Verifier");
      this.#verifier = verifier;
    } else {
      if (issuer === undefined) throw bad("McpGate service needs issuer: the token service's `issuer`");
      if (typeof service !== "string" && !isInstance(service, URL)) throw bad("McpGate service must be a URL string or URL");
      const base = parseHttpUrl(service, "McpGate service");
      if (base.search !== "" || base.hash !== "") throw bad("McpGate service must have no query or fragment");
      const root = base.href.replace(/\/+$/, "");
      const { fetch: fetchImpl, onError, keysInterval = 300, revocationInterval = 5 } = o;
      this.#keys = new RemoteKeySet({
        url: `${root}/.well-known/jwks.json`, interval: keysInterval,
        minRefresh: Math.min(30, keysInterval), fetch: fetchImpl, onError,
      });
      this.#replica = new RevocationReplica({
        keys: this.#keys, issuer, url: `${root}/revocation`, interval: revocationInterval,
        fetch: fetchImpl, onError,
      });
      this.#verifier = new Verifier({
        issuers: { [issuer]: this.#keys }, audience: this.#resource, revocation: this.#replica,
        requireBinding: o.requireBinding === true, name: "mcp",
      });
    }

    const servers = o.authorizationServers ?? (issuer === undefined ? undefined : [issuer]);
    this.#authorizationServers = readServers(servers);
    if (o.requireBinding !== undefined && typeof o.requireBinding !== "boolean") {
      throw bad("requireBinding must be a boolean");
    }
    this.#requireBinding = o.requireBinding === true;
    for (const name of ["resourceName", "resourceDocumentation"]) {
      if (o[name] !== undefined && (typeof o[name] !== "string" || o[name].length === 0)) {
        throw bad(`${name} must be a non-empty string`);
      }
    }
    this.#resourceName = o.resourceName;
    this.#resourceDocumentation = o.resourceDocumentation === undefined
      ? undefined : parseHttpUrl(o.resourceDocumentation, "resourceDocumentation").href;
    const maxBody = o.maxBodyBytes ?? DEFAULT_MAX_BODY;
    if (!(Number.isSafeInteger(maxBody) && maxBody > 0)) throw bad("maxBodyBytes must be a positive integer");
    this.#maxBody = maxBody;
    if (o.dpopNonce !== undefined && typeof o.dpopNonce !== "string" && typeof o.dpopNonce !== "function") {
      throw bad("dpopNonce must be a string or a function returning one");
    }
    this.#dpopNonce = o.dpopNonce;
    if (o.onDecision !== undefined && typeof o.onDecision !== "function") throw bad("onDecision must be a function");
    this.#onDecision = o.onDecision;
    const maxSessions = o.maxSessions ?? DEFAULT_MAX_SESSIONS;
    if (!(Number.isSafeInteger(maxSessions) && maxSessions > 0)) throw bad("maxSessions must be a positive integer");
    this.#sessions = new SessionOwners(maxSessions);

    // Bound once, so that `app.post("/mcp", gate.node, …)` and `{ verifier: gate }` work.
    this.node = this.node.bind(this);
    this.check = this.check.bind(this);
    this.verifyAccessToken = this.verifyAccessToken.bind(this);
  }

  /**
   * This server's canonical URI: the `resource` of the metadata, the `aud` of its tokens.
   * @returns {string}
   */
  get resource() {
    return this.#resource;
  }

  /**
   * The metadata document's URL (RFC 9728 §3.1), named in every challenge
   * (`resource_metadata`).
   * @returns {string}
   */
  get metadataUrl() {
    return this.#metadataUrl;
  }

  /**
   * The metadata document's path: `/.well-known/oauth-protected-resource` + the resource's
   * path.
   * @returns {string}
   */
  get metadataPath() {
    return this.#metadataPath;
  }

  /**
   * With `service`: the key refresh running now (a token with an unknown `kid` asks for one),
   * as a Promise that never rejects, or `null`. In a Worker, `ctx.waitUntil(gate.pending)`
   * after a refusal lets it finish after the response.
   * @returns {Promise<void> | null}
   */
  get pending() {
    return this.#keys?.pending ?? null;
  }

  /**
   * The Verifier the gate uses (its own with `service`, else the one given).
   * @returns {Verifier}
   */
  get verifier() {
    return this.#verifier;
  }

  /**
   * The Protected Resource Metadata document (RFC 9728 §2), a fresh plain object:
   * `resource`, `authorization_servers`, `bearer_methods_supported` (`header` only: MCP
   * forbids tokens in the query), `scopes_supported` (`tools:call`, `prompts:get`),
   * `dpop_signing_alg_values_supported`, and where configured `dpop_bound_access_tokens_required`,
   * `resource_name`, `resource_documentation`.
   * @returns {ProtectedResourceMetadata}
   */
  metadata() {
    return {
      resource: this.#resource,
      authorization_servers: [...this.#authorizationServers],
      bearer_methods_supported: ["header"],
      scopes_supported: [...MCP_SCOPES],
      dpop_signing_alg_values_supported: [...PROOF_ALGS],
      ...(this.#requireBinding ? { dpop_bound_access_tokens_required: true } : {}),
      ...(this.#resourceName !== undefined ? { resource_name: this.#resourceName } : {}),
      ...(this.#resourceDocumentation !== undefined ? { resource_documentation: this.#resourceDocumentation } : {}),
    };
  }

  /**
   * With `service`: loads the token service's keys and revocation data; resolves once both
   * are there, rejects (`unknown_key` or `stale_revocation`) if either cannot be loaded.
   * Until then every request is refused (fail closed). Without `service`, resolves at once.
   * @returns {Promise<void>}
   */
  async ready() {
    if (this.#keys === undefined) return;
    await this.#keys.refresh();
    await this.#replica.refresh();
  }

  /**
   * With `service`, in Node and browsers: refreshes keys and revocation data in the
   * background every interval until `stop()` (timers do not keep Node alive). In Workers
   * nothing is needed: every `check` refreshes what is due before it decides.
   * @returns {this}
   */
  start() {
    this.#keys?.start();
    this.#replica?.start();
    return this;
  }

  /**
   * Stops the background refreshes of `start()`.
   * @returns {void}
   */
  stop() {
    this.#keys?.stop();
    this.#replica?.stop();
  }

  /**
   * Decides one Fetch API request to the MCP endpoint (Workers, Deno, Bun, Node's global
   * `Request`). Never throws for what the request holds; the body is read (at most
   * `maxBodyBytes`) for a POST, so hand the transport `parsedBody`:
   *
   *   const gate = await mcp.check(request);
   *   if (!gate.ok) return gate.response;
   *   return transport.handleRequest(request, { authInfo: gate.authInfo, parsedBody: gate.parsedBody });
   *
   * Answers, with `ok: false` and a `response`: the metadata document for `GET` (or `HEAD`)
   * of `metadataPath` (no token needed, `error` undefined); `401` with
   * `WWW-Authenticate: Bearer resource_metadata="…"` when no `Bearer`/`DPoP` token comes;
   * `401` `invalid_token` (DPoP: `invalid_dpop_proof`) for a token that is not valid for this
   * server now (forged, expired, revoked, another audience, a bound token sent as Bearer);
   * `403` `insufficient_scope` with `scope="tools:call"` (or `prompts:get`) when a call in
   * the body is not granted; `503` when revocation data is stale; `400` for a body that is
   * not JSON-RPC (or a tool call without a string `name`); `413` for a body over the limit.
   * Every challenge names `resource_metadata`; bodies are JSON-RPC error objects, with no
   * token text.
   * @param {Request} request
   * @returns {Promise<McpCheckResult>}
   */
  async check(request) {
    if (!isInstance(request, Request)) throw bad("McpGate.check needs a Fetch API Request");
    const url = new URL(request.url);
    const method = request.method;
    const outcome = await this.#decide({
      method,
      path: url.pathname,
      header: (name) => request.headers.get(name),
      target: () => ({ method, url: request.url }),
      body: async () => {
        const bytes = await readBody(request, this.#maxBody);
        return bytes === undefined ? TOO_LARGE : bytes;
      },
    });
    if (outcome.ok) {
      const { session } = outcome;
      const record = (response) => {
        if (!isInstance(response, Response)) throw bad("record needs the transport's Response");
        this.#settle(session, method, response.status, response.headers.get("mcp-session-id"));
        return response;
      };
      return { ok: true, authInfo: outcome.authInfo, parsedBody: outcome.parsedBody, record };
    }
    const { status, headers, body } = outcome.answer;
    // No prototype: a ResponseInit's members are read with inheritance (WebIDL).
    const response = new Response(method === "HEAD" ? null : body, { __proto__: null, status, headers });
    return { ok: false, response, error: outcome.error };
  }

  /**
   * `check`, then `handler({ authInfo, parsedBody })` for what passes (the transport:
   * `(options) => transport.handleRequest(request, options)`), recording the session its
   * Response opens or ends; what is refused is answered without calling it.
   * @param {Request} request
   * @param {(options: { authInfo: McpAuthInfo, parsedBody: unknown })
   *          => Response | Promise<Response>} handler
   * @returns {Promise<Response>}
   */
  async handle(request, handler) {
    if (typeof handler !== "function") throw bad("McpGate.handle needs a handler function");
    const checked = await this.check(request);
    if (!checked.ok) return checked.response;
    return checked.record(await handler({ authInfo: checked.authInfo, parsedBody: checked.parsedBody }));
  }

  /**
   * The gate for Node's `http` server and Express (`app.post("/mcp", gate.node, handler)`,
   * or awaited in a plain handler). Answers what `check` answers (writing it to `res`,
   * resolving to `null`); otherwise sets `req.auth` (the `AuthInfo` the SDK's
   * `StreamableHTTPServerTransport` passes to handlers) and `req.body` (the parsed JSON-RPC
   * body: hand it to `transport.handleRequest(req, res, req.body)`), calls `next()` if given,
   * and resolves to the `AuthInfo`. A body already parsed by `express.json()` is used as it
   * is; otherwise the gate reads it (at most `maxBodyBytes`). DPoP proofs must name
   * `resource`'s origin and the request's path (`req.originalUrl` under Express).
   * @param {McpNodeRequest} req Node's IncomingMessage, or Express's request
   * @param {McpNodeResponse} res Node's ServerResponse
   * @param {(error?: unknown) => void} [next]
   * @returns {Promise<McpAuthInfo | null>}
   */
  async node(req, res, next) {
    if (!hasMethod(res, "writeHead") || !hasMethod(res, "end")) {
      throw bad("McpGate.node needs Node's ServerResponse as res");
    }
    try {
      const headers = req?.headers;
      if (headers === null || typeof headers !== "object") throw bad("McpGate.node needs Node's IncomingMessage as req");
      const target = requestTarget(req);
      const method = String(req.method);
      const preParsed = Object.hasOwn(req, "body") ? req.body : undefined;
      const outcome = await this.#decide({
        method,
        path: target.path,
        header: (name) => headerValue(ownValue(headers, name)),
        target: () => {
          if (target.error) throw target.error;
          return { method, url: `${this.#origin}${target.raw}` };
        },
        body: async () => {
          if (preParsed === undefined) {
            const bytes = await readNodeBody(req, headers, this.#maxBody);
            return bytes === undefined ? TOO_LARGE : bytes;
          }
          // Parsed by express.json(): that object is what the transport will be handed. Text
          // or bytes from another body parser are parsed here, and replace it.
          if (typeof preParsed === "string") return new TextEncoder().encode(preParsed);
          if (ArrayBuffer.isView(preParsed)) return new Uint8Array(preParsed.buffer, preParsed.byteOffset, preParsed.byteLength);
          return { parsed: preParsed };
        },
      });
      if (!outcome.ok) {
        const { status, headers: answerHeaders, body } = outcome.answer;
        res.writeHead(status, answerHeaders);
        res.end(method === "HEAD" ? undefined : body);
        return null;
      }
      this.#watch(res, outcome.session, method);
      req.auth = outcome.authInfo;
      if (outcome.parsedBody !== undefined) req.body = outcome.parsedBody;
      if (typeof next === "function") next();
      return outcome.authInfo;
    } catch (error) {
      if (typeof next === "function") {
        next(error);
        return null;
      }
      throw error;
    }
  }

  /**
   * The gate as the SDK's `OAuthTokenVerifier`, for `requireBearerAuth({ verifier: gate,
   * resourceMetadataUrl: gate.metadataUrl })`: verifies `token` as a valid task token for
   * this server now (signature, issuer, audience = `resource`, time, lifetime, revocation;
   * a DPoP-bound token is refused, since that middleware takes Bearer tokens only) and
   * resolves to its `AuthInfo`. It checks no call: put `gate.node` after the middleware for
   * that, or use `gate.node` alone. Rejects with the SDK's `InvalidTokenError` (the
   * middleware's 401 `invalid_token`), or `ServerError` (500) when revocation data is stale
   * — loaded from `@modelcontextprotocol/sdk/server/auth/errors.js` on the first refusal;
   * without the SDK, with the TaskTokenError itself. Messages never hold token text.
   * @param {string} token
   * @returns {Promise<McpAuthInfo>}
   */
  async verifyAccessToken(token) {
    await this.#refreshIfDue();
    try {
      if (typeof token !== "string" || token.length === 0) throw bad("no task token");
      let claims;
      try {
        claims = this.#verifier.verify(token, { ...AUTHENTICATE, onDecision: this.#onDecision });
      } catch (error) {
        if (!(error instanceof TaskTokenError && FORBIDDEN.has(error.code))) throw error;
        claims = this.#describe(token);
      }
      if (this.#requireBinding && boundKey(claims) === undefined) {
        throw new TaskTokenError("binding_required", "this server accepts DPoP-bound tokens only");
      }
      return authInfoFor(token, claims, this.#resource, false);
    } catch (error) {
      throw await sdkError(error);
    }
  }

  /**
   * Wraps `res.writeHead` (which Node also calls for implicit headers) to see the status and
   * the `Mcp-Session-Id` the transport answers with, once.
   */
  #watch(res, session, method) {
    const writeHead = res.writeHead;
    res.writeHead = (status, ...rest) => {
      res.writeHead = writeHead;
      try {
        const headers = rest.find((r) => r !== null && typeof r === "object");
        const id = sessionHeader(headers) ?? (hasMethod(res, "getHeader") ? res.getHeader("mcp-session-id") : undefined);
        this.#settle(session, method, status, id);
      } catch (error) {
        console.error("tasktoken: the MCP session could not be recorded", error);
      }
      return Reflect.apply(writeHead, res, [status, ...rest]);
    };
  }

  /**
   * What the transport's answer does to the session table: a session it opened (an id in
   * the answer to a request that carried none) is bound to the request's owner; a `DELETE`
   * it accepted forgets the session. An id already bound to another owner is never rebound.
   */
  #settle(session, method, status, answered) {
    if (status < 200 || status > 299) return;
    if (session.requested !== null) {
      if (method === "DELETE") this.#sessions.delete(session.requested);
      return;
    }
    const id = Array.isArray(answered) ? answered.join(", ") : answered;
    if (typeof id === "string" && id.length > 0) this.#sessions.open(id, session.owner, session.exp);
  }

  /** Refreshes the followed keys and revocation data if due (Workers have no timers). */
  async #refreshIfDue() {
    if (this.#keys === undefined) return;
    // Failures are the key set's and replica's to report; verification then fails closed.
    await Promise.all([
      this.#keys.refreshIfDue().catch(() => {}),
      this.#replica.refreshIfDue().catch(() => {}),
    ]);
  }

  /**
   * The decision for one request seen through `access`: `{ method, path, header(name),
   * target() → { method, url }, body() → bytes | { parsed } | TOO_LARGE }`. Resolves to
   * `{ ok: true, authInfo, parsedBody }` or `{ ok: false, error?, answer: { status, headers,
   * body } }`.
   * @returns {Promise<{ ok: true, authInfo: McpAuthInfo, parsedBody: unknown,
   *                     session: { requested: string | null, owner: string, exp: number } }
   *   | { ok: false, error?: TaskTokenError,
   *       answer: { status: number, headers: Record<string, string>, body: string } }>}
   */
  async #decide(access) {
    const { method } = access;
    if (access.path === this.#metadataPath && (method === "GET" || method === "HEAD")) {
      return { ok: false, answer: this.#metadataAnswer() };
    }
    const authorization = access.header("authorization");
    // No credentials at all (or another scheme, such as Basic): the discovery answer of the
    // MCP authorization spec, RFC 9728 §5.1. No error code: RFC 6750 §3.1.
    if (!authorization || !/^(bearer|dpop)\b/i.test(authorization.trimStart())) {
      const error = new TaskTokenError("malformed", "no task token in the request");
      this.#audit(error.code);
      return this.#refuse(error, 401, `Bearer resource_metadata="${this.#metadataUrl}"`, null);
    }
    // The body, for a POST: the JSON-RPC message (or batch) whose calls the token must grant.
    let parsedBody;
    let calls = [];
    if (method === "POST") {
      const read = await readJson(access.body);
      if (read.status !== undefined) {
        return { ok: false, error: read.error, answer: rpcAnswer(read.status, null, read.code, read.error.message) };
      }
      parsedBody = read.value;
      try {
        calls = callsIn(parsedBody);
      } catch (error) {
        return { ok: false, error, answer: rpcAnswer(400, null, INVALID_REQUEST, error.message) };
      }
    }
    await this.#refreshIfDue();
    const id = Array.isArray(parsedBody) ? null : rpcId(parsedBody);
    const first = calls[0] ?? AUTHENTICATE;
    const decision = decideRequest(
      access.header,
      () => new URLSearchParams(),
      () => first.resource,
      access.target,
      this.#verifier,
      { action: first.action, resource: first.resource, dpopNonce: this.#dpopNonce, onDecision: this.#onDecision },
    );
    let claims, token, dpop;
    if (decision.ok) {
      ({ claims, token, dpop } = decision);
    } else if (calls.length === 0 && FORBIDDEN.has(decision.error.code)) {
      // Valid for this server; it was asked for nothing it could grant (see AUTHENTICATE).
      // The guard read the header exactly (`Scheme token`), so its second word is the token.
      const words = authorization.trim().split(/ +/);
      token = words[1];
      dpop = words[0].toLowerCase() === "dpop";
      try {
        claims = this.#describe(token);
      } catch (error) {
        return this.#refused(refusalFor(error, dpop), null, id);
      }
    } else {
      return this.#refused(decision, calls[0] ?? null, calls[0]?.id ?? id);
    }
    if (this.#requireBinding && boundKey(claims) === undefined) {
      const error = new TaskTokenError("binding_required", "this server accepts DPoP-bound tokens only");
      return this.#refused(refusalFor(error, dpop), null, id);
    }
    // Every further call of a batch, for the same token: the proof (if any) was checked
    // above for this request, so the key it proved stands in for it.
    const keyThumbprint = boundKey(claims);
    for (const call of calls.slice(1)) {
      try {
        this.#verifier.verify(token, {
          action: call.action, resource: call.resource, keyThumbprint, onDecision: this.#onDecision,
        });
      } catch (error) {
        return this.#refused(refusalFor(error, dpop), call, call.id);
      }
    }
    // The session (Mcp-Session-Id): only its owner's tokens may use it. An id the gate does
    // not hold for this owner (another's, forgotten, made up) gets the transport's own answer
    // to an unknown session, so a valid token learns nothing about other sessions.
    const owner = ownerOf(claims);
    const exp = ownValue(claims, "exp");
    const requested = access.header("mcp-session-id") || null;
    if (requested !== null && !this.#sessions.use(requested, owner, exp)) {
      this.#audit("resource_denied");
      const error = new TaskTokenError("resource_denied", "the session is not one this token's identity opened");
      const answer = rpcAnswer(404, null, SESSION_NOT_FOUND, "Session not found");
      return { ok: false, error, answer };
    }
    const session = { requested, owner, exp };
    return { ok: true, authInfo: authInfoFor(token, claims, this.#resource, dpop), parsedBody, session };
  }

  /**
   * The guard's refusal, in the MCP authorization spec's words: the challenge names
   * `resource_metadata`, and for a call not granted (403) the `scope` it needs; the body is
   * a JSON-RPC error for the request (`id` of the call refused, or of the single message).
   * @param {import("./guard.js").Refusal} decision
   * @param {{ action: string, resource: string, name: string, method: string,
   *            id: string | number | null } | null} call
   * @param {string | number | null} [id]
   * @returns {import("./guard.js").Refusal}
   */
  #refused(decision, call, id = call?.id ?? null) {
    const { error, answer } = decision;
    let challenge = answer.headers["www-authenticate"];
    if (answer.status === 403 && call !== null) challenge += `, scope="${call.action}"`;
    challenge += `, resource_metadata="${this.#metadataUrl}"`;
    const refusal = this.#refuse(error, answer.status, challenge, id, call);
    if (answer.headers["dpop-nonce"] !== undefined) refusal.answer.headers["dpop-nonce"] = answer.headers["dpop-nonce"];
    return refusal;
  }

  /**
   * A refusal with `challenge`, its JSON-RPC body saying what was refused and why.
   * @param {TaskTokenError} error
   * @param {number} status
   * @param {string} challenge
   * @param {string | number | null} id
   * @param {{ action: string, resource: string, name: string, method: string,
   *            id: string | number | null } | null} [call]
   * @returns {import("./guard.js").Refusal}
   */
  #refuse(error, status, challenge, id, call = null) {
    const oauth = /error="([a-z_]+)"/.exec(challenge)?.[1];
    const message = call !== null && status === 403
      ? `the task token does not grant ${call.method} of ${JSON.stringify(call.name).slice(0, 200)} (${call.action} on ${call.resource.slice(0, 200)})`
      : error.message;
    const data = {
      code: error.code,
      ...(oauth !== undefined ? { error: oauth } : {}),
      ...(status === 403 && call !== null ? { scope: call.action } : {}),
      resource_metadata: this.#metadataUrl,
    };
    const answer = rpcAnswer(status, id, REFUSED, message, data);
    answer.headers["www-authenticate"] = challenge;
    return { ok: false, error, answer };
  }

  /**
   * The claims of a token the verifier has just found valid for this server (every check
   * passed but the action, which no token grants for AUTHENTICATE), as the core builds them:
   * a chain's last link's granted claims with the root's `iss`, its other claims and an
   * `act` naming the delegators — never a link's own extra claims (its signer chose them,
   * not the issuer). The decision was the verify call's; this only reads.
   */
  #describe(token) {
    return this.#verifier.verifyForRevocation(token);
  }

  /** The audit event of a refusal decided before any token reached the verifier. */
  #audit(outcome) {
    if (this.#onDecision === undefined) return;
    emit(this.#onDecision, JSON.parse(refusalEvent(outcome, "mcp", undefined, undefined, Date.now() / 1000)));
  }

  #metadataAnswer() {
    return {
      status: 200,
      headers: {
        "content-type": "application/json",
        "cache-control": "public, max-age=300",
        // The document is public: browser-based MCP clients read it across origins.
        "access-control-allow-origin": "*",
      },
      body: JSON.stringify(this.metadata()),
    };
  }
}


/**
 * The owner of each MCP session: the identity of the token that opened it, with the latest
 * `exp` of its owner's tokens that used it. A Map in least-recently-used order, at most
 * `capacity` entries; an entry past its `exp` is gone.
 */
class SessionOwners {
  #capacity;
  #map = new Map();

  constructor(capacity) {
    this.#capacity = capacity;
  }

  /** Binds a new session; an id bound to another owner stays theirs. */
  open(id, owner, exp) {
    const entry = this.#live(id);
    if (entry !== undefined && entry.owner !== owner) return;
    this.#map.delete(id);
    while (this.#map.size >= this.#capacity) this.#map.delete(this.#map.keys().next().value);
    this.#map.set(id, { owner, exp: Math.max(exp, entry?.exp ?? 0) });
  }

  /** Whether `owner` holds session `id`; if so it is kept as long as this token lives. */
  use(id, owner, exp) {
    const entry = this.#live(id);
    if (entry === undefined || entry.owner !== owner) return false;
    this.#map.delete(id);
    this.#map.set(id, { owner, exp: Math.max(exp, entry.exp) });
    return true;
  }

  delete(id) {
    this.#map.delete(id);
  }

  #live(id) {
    const entry = this.#map.get(id);
    if (entry !== undefined && !(entry.exp > Date.now() / 1000)) {
      this.#map.delete(id);
      return undefined;
    }
    return entry;
  }
}

/**
 * The identity a session is bound to, from a verified token's claims (as the core built
 * them): the root's `iss`; the subjects from the root to the last element — the delegators
 * of `act`, outermost last, then `sub` — each named by the one who signed that element, so
 * a delegate cannot name a path it is not on (a sub-agent's link claiming its orchestrator's
 * `sub` still has the sub-agent in its path); and the key the last element is bound to
 * (`cnf.jkt`, proved by DPoP), or none for a bearer token. A sub-agent's chain does not hold
 * its orchestrator's sessions, nor a sibling's, nor a delegate of one root another root's;
 * an orchestrator holds a sub-agent's session only by the sub-agent's key (for a bearer
 * link it signed, it could have sent that chain itself).
 */
function ownerOf(claims) {
  const path = [];
  for (let act = ownValue(claims, "act"); act !== null && typeof act === "object"; act = ownValue(act, "act")) {
    path.unshift(ownValue(act, "sub"));
  }
  path.push(ownValue(claims, "sub"));
  return JSON.stringify([ownValue(claims, "iss"), path, boundKey(claims) ?? null]);
}

/** `Mcp-Session-Id` in the headers Node's `writeHead` takes: an object, pairs, or a flat list. */
function sessionHeader(headers) {
  if (headers === undefined) return undefined;
  if (!Array.isArray(headers)) {
    for (const [name, value] of Object.entries(headers)) {
      if (name.toLowerCase() === "mcp-session-id") return value;
    }
    return undefined;
  }
  const pairs = Array.isArray(headers[0]) ? headers
    : Array.from({ length: Math.floor(headers.length / 2) }, (_, i) => [headers[2 * i], headers[2 * i + 1]]);
  return pairs.find(([name]) => String(name).toLowerCase() === "mcp-session-id")?.[1];
}

/** A body over the limit (the read stopped there). */
const TOO_LARGE = Symbol("too large");

/**
 * The calls of a JSON-RPC message or batch, as `{ action, resource, name, method, id }`;
 * `malformed` for what is not JSON-RPC enough to know: an empty or over-long batch, a
 * message that is not an object, a method that is not a string, a call without a non-empty
 * string `params.name`. Own members only.
 */
function callsIn(body) {
  const messages = Array.isArray(body) ? body : [body];
  if (messages.length === 0 || messages.length > MAX_BATCH) {
    throw bad(`a JSON-RPC batch holds 1 to ${MAX_BATCH} messages`);
  }
  const calls = [];
  for (const message of messages) {
    if (message === null || typeof message !== "object" || Array.isArray(message)) {
      throw bad("a JSON-RPC message must be an object");
    }
    const method = ownValue(message, "method");
    if (method === undefined) continue; // a response to the server's own request
    if (typeof method !== "string") throw bad("a JSON-RPC method must be a string");
    const call = CALLS[method];
    if (call === undefined) continue;
    const params = ownValue(message, "params");
    const name = params !== null && typeof params === "object" && !Array.isArray(params)
      ? ownValue(params, "name") : undefined;
    if (typeof name !== "string" || name.length === 0) throw bad(`${method} needs params.name: a non-empty string`);
    calls.push({ action: call[0], resource: `${call[1]}${name}`, name, method, id: rpcId(message) });
  }
  return calls;
}

/** A message's `id` if it is one JSON-RPC allows (string, number), else `null`. */
function rpcId(message) {
  if (message === null || typeof message !== "object" || Array.isArray(message)) return null;
  const id = ownValue(message, "id");
  return typeof id === "string" || (typeof id === "number" && Number.isFinite(id)) ? id : null;
}

/**
 * The body as JSON: `{ value }`, or `{ status, code, error }` (413 over the limit, 400 not
 * UTF-8 JSON). `__proto__` members are dropped at every depth: the transport gets this value.
 */
async function readJson(body) {
  let read;
  try {
    read = await body();
  } catch (cause) {
    const error = new TaskTokenError("malformed", "the request body could not be read", { cause });
    return { status: 400, code: PARSE_ERROR, error };
  }
  if (read === TOO_LARGE) {
    return { status: 413, code: REFUSED, error: bad("the request body is over the server's limit") };
  }
  if (!(read instanceof Uint8Array)) return { value: read.parsed };
  try {
    return { value: parseClaims(new TextDecoder("utf-8", { fatal: true }).decode(read)) };
  } catch (cause) {
    const error = new TaskTokenError("malformed", "the request body is not JSON", { cause });
    return { status: 400, code: PARSE_ERROR, error };
  }
}

/**
 * A JSON-RPC error answer (`{ jsonrpc, id, error: { code, message, data? } }`).
 * @returns {{ status: number, headers: Record<string, string>, body: string }}
 */
function rpcAnswer(status, id, code, message, data) {
  const error = { code, message, ...(data !== undefined ? { data } : {}) };
  return {
    status,
    headers: { "content-type": "application/json", "cache-control": "no-store" },
    body: JSON.stringify({ jsonrpc: "2.0", id, error }),
  };
}

/** `cnf.jkt` of verified claims, or `undefined` for an unbound token. */
function boundKey(claims) {
  const cnf = ownValue(claims, "cnf");
  const jkt = cnf !== null && typeof cnf === "object" ? ownValue(cnf, "jkt") : undefined;
  return typeof jkt === "string" ? jkt : undefined;
}

/**
 * The SDK's `AuthInfo` for verified claims: `clientId` is the token's `sub` (the non-human
 * identity), `scopes` its actions, `expiresAt` its `exp`, `resource` this server; `extra`
 * holds the claims, the `task`, `jti` and `sub`, and `scheme` ("Bearer" or "DPoP").
 * @returns {McpAuthInfo}
 */
function authInfoFor(token, claims, resource, dpop) {
  const scope = ownValue(claims, "scope");
  const string = (name) => {
    const value = ownValue(claims, name);
    return typeof value === "string" ? value : undefined;
  };
  return {
    token,
    clientId: string("sub") ?? "",
    scopes: typeof scope === "string" ? scope.split(" ").filter((s) => s.length > 0) : [],
    expiresAt: ownValue(claims, "exp"),
    resource: new URL(resource),
    extra: {
      sub: string("sub"), task: string("task"), jti: string("jti"),
      scheme: dpop ? "DPoP" : "Bearer", claims,
    },
  };
}

/**
 * The SDK's error class for a refusal (`InvalidTokenError`, or `ServerError` for stale
 * revocation data), with a message fit for its `error_description` header parameter; the
 * TaskTokenError itself without the SDK.
 */
async function sdkError(error) {
  const e = error instanceof TaskTokenError
    ? error : new TaskTokenError("malformed", "the token could not be checked", { cause: error });
  let errors;
  try {
    errors = await sdkErrors();
  } catch {
    return e;
  }
  // The middleware writes the message into `error_description="…"` as it is.
  const message = `${e.code}: ${e.message}`.replace(/[^\u0020-\u007e]|["\\]/g, "");
  const Class = e.code === "stale_revocation" ? errors.ServerError : errors.InvalidTokenError;
  const sdk = new Class(message);
  sdk.code = e.code;
  return sdk;
}

let loadedErrors;
/** The SDK's OAuth error classes, loaded once, on the first refusal. */
function sdkErrors() {
  loadedErrors ??= import("@modelcontextprotocol/sdk/server/auth/errors.js").catch((cause) => {
    loadedErrors = undefined;
    throw cause;
  });
  return loadedErrors;
}

/**
 * `resource` as the canonical URI of RFC 8707 §2 / the MCP authorization spec: an absolute
 * http(s) URL with no query, fragment or credentials, written as the URL parser writes it
 * (lowercase scheme and host, default port dropped), with or without the `/` of an empty
 * path. `{ text, url }`, or `malformed`.
 */
function canonicalResource(value) {
  if (typeof value !== "string") throw bad("McpGate needs resource: this server's canonical URI, such as https://mcp.example.com/mcp");
  const url = parseHttpUrl(value, "McpGate resource");
  if (url.search !== "" || url.hash !== "" || value.includes("?") || value.includes("#")) {
    throw bad("McpGate resource must have no query or fragment (RFC 8707 §2)");
  }
  const canonical = url.href;
  const bare = url.pathname === "/" ? canonical.slice(0, -1) : canonical;
  if (value !== canonical && value !== bare) {
    throw bad(`McpGate resource must be written canonically: ${JSON.stringify(bare).slice(0, 200)}`);
  }
  return { text: value, url };
}

/** `authorization_servers`: a non-empty array of http(s) issuer identifiers. */
function readServers(value) {
  let list;
  try {
    list = Array.isArray(value) ? [...value] : undefined;
  } catch (cause) {
    throw new TaskTokenError("malformed", "authorizationServers could not be read", { cause });
  }
  if (list === undefined || list.length === 0) {
    throw bad("McpGate needs authorizationServers (or issuer): the token service's issuer identifier");
  }
  for (const server of list) {
    if (typeof server !== "string") throw bad("authorizationServers must be strings");
    const url = parseHttpUrl(server, "an authorization server");
    if (url.search !== "" || url.hash !== "") throw bad("an authorization server has no query or fragment (RFC 8414 §2)");
    // Quoted into nothing, but kept as safe as the challenge's URLs.
    if (/["\\\s]/.test(server)) throw bad("an authorization server must be a plain URL");
  }
  return list;
}

/** The request target of a Node request: `{ raw, path, error? }` (Express: `originalUrl`). */
function requestTarget(req) {
  const original = Object.hasOwn(req, "originalUrl") ? req.originalUrl : req.url;
  const raw = typeof original === "string" ? original : "";
  if (!raw.startsWith("/") || raw.startsWith("//")) {
    return { raw, path: "", error: bad("the request target is not a path") };
  }
  return { raw, path: new URL(raw, "http://localhost").pathname };
}

/** The body of a Node request, at most `limit` bytes; `undefined` when it is longer. */
async function readNodeBody(req, headers, limit) {
  const declared = Number(headerValue(ownValue(headers, "content-length")));
  if (declared > limit) return undefined;
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    const bytes = typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk;
    size += bytes.byteLength;
    if (size > limit) return undefined;
    chunks.push(bytes);
  }
  const body = new Uint8Array(size);
  let at = 0;
  for (const bytes of chunks) {
    body.set(bytes, at);
    at += bytes.byteLength;
  }
  return body;
}

/** @import { AuditEvent } from "./util.js" */

/**
 * What the gate tells handlers about the task token besides the SDK's fields.
 * @typedef {object} McpAuthExtra
 * @property {string | undefined} sub The non-human identity the task was granted to
 *   (`clientId` too).
 * @property {string | undefined} task The workflow segment the token serves.
 * @property {string | undefined} jti The token's id (its revocation key).
 * @property {"Bearer" | "DPoP"} scheme How the token came: `Authorization: Bearer`, or `DPoP`
 *   with a proof of its key.
 * @property {import("./verify.js").TaskClaims} claims The verified claims.
 */

/**
 * The SDK's `AuthInfo` (handlers see it as `extra.authInfo`): `clientId` is the token's
 * `sub`, `scopes` its actions, `expiresAt` its `exp`, `resource` this server. `token` is the
 * task token itself: never log it.
 * @typedef {object} McpAuthInfo
 * @property {string} token
 * @property {string} clientId
 * @property {string[]} scopes
 * @property {number} expiresAt
 * @property {URL} resource
 * @property {McpAuthExtra} extra
 */

/**
 * The RFC 9728 Protected Resource Metadata document the gate serves.
 * @typedef {object} ProtectedResourceMetadata
 * @property {string} resource
 * @property {string[]} authorization_servers
 * @property {["header"]} bearer_methods_supported
 * @property {string[]} scopes_supported
 * @property {string[]} dpop_signing_alg_values_supported
 * @property {true} [dpop_bound_access_tokens_required]
 * @property {string} [resource_name]
 * @property {string} [resource_documentation]
 */

/**
 * What every gate takes.
 * @typedef {object} McpGateCommonOptions
 * @property {string} resource This server's canonical URI (`https://mcp.example.com/mcp`):
 *   the RFC 8707 resource indicator clients ask tokens for, and the `aud` every token must
 *   carry.
 * @property {string[]} [authorizationServers] The metadata's `authorization_servers`
 *   (default `[issuer]`).
 * @property {boolean} [requireBinding] Only DPoP-bound tokens (announced as
 *   `dpop_bound_access_tokens_required`).
 * @property {string} [resourceName] The metadata's `resource_name`.
 * @property {string} [resourceDocumentation] The metadata's `resource_documentation` (an
 *   http(s) URL).
 * @property {number} [maxBodyBytes] The largest JSON-RPC body read, in bytes (default 4 MiB).
 * @property {string | (() => string)} [dpopNonce] The DPoP nonce proofs must carry, or a
 *   function returning the current one.
 * @property {(event: AuditEvent) => void} [onDecision] Receives each request's audit event.
 * @property {number} [maxSessions] MCP sessions whose owner the gate remembers (default
 *   10,000; the least recently used is forgotten first, and then answered 404 like an
 *   unknown session).
 */

/**
 * A gate that verifies with a Verifier of yours (its `audience` must be `resource`).
 * @typedef {McpGateCommonOptions & McpGateVerifier} McpGateVerifierOptions
 */

/**
 * The members of McpGateVerifierOptions besides the common ones.
 * @typedef {object} McpGateVerifier
 * @property {Verifier} verifier
 * @property {never} [service]
 * @property {string} [issuer] The token service's `issuer`, the default authorization server.
 */

/**
 * A gate that follows the token service's keys and revocation data itself.
 * @typedef {McpGateCommonOptions & McpGateService} McpGateServiceOptions
 */

/**
 * The members of McpGateServiceOptions besides the common ones.
 * @typedef {object} McpGateService
 * @property {never} [verifier]
 * @property {string | URL} service The token service's base URL
 *   (`<service>/.well-known/jwks.json`, `<service>/revocation`).
 * @property {string} issuer The token service's `issuer`: the `iss` of the tokens it mints.
 * @property {number} [keysInterval] Seconds between refreshes of the keys (default 300).
 * @property {number} [revocationInterval] Seconds between refreshes of the revocation data
 *   (default 5).
 * @property {typeof fetch} [fetch] The fetch used to follow the service.
 * @property {(error: Error) => void} [onError] Receives failed refreshes (the gate fails
 *   closed meanwhile).
 */

/**
 * How a gate verifies: with a Verifier of yours, or following the token service.
 * @typedef {McpGateVerifierOptions | McpGateServiceOptions} McpGateOptions
 */

/**
 * What `McpGate.check` decided. `ok`: the `AuthInfo` and parsed body for the transport, and
 * `record(response)`: hand it the transport's Response (it returns it), which binds the
 * session an `initialize` answer opens (`Mcp-Session-Id`) to this token's identity and
 * forgets one a `DELETE` ended. Otherwise the `response` to send.
 * @typedef {{ ok: true, authInfo: McpAuthInfo, parsedBody: unknown,
 *             record(response: Response): Response }
 *   | { ok: false, response: Response, error?: TaskTokenError }} McpCheckResult
 */

/**
 * The minimal shape of Node's IncomingMessage (or Express's request) the gate reads.
 * @typedef {AsyncIterable<Uint8Array | string> & McpNodeRequestFields} McpNodeRequest
 */

/**
 * The members of McpNodeRequest.
 * @typedef {object} McpNodeRequestFields
 * @property {string} [url]
 * @property {string} [originalUrl]
 * @property {string} [method]
 * @property {Record<string, string | string[] | undefined>} headers
 * @property {McpAuthInfo} [auth]
 * @property {unknown} [body]
 */

/**
 * The minimal shape of Node's ServerResponse the gate writes.
 * @typedef {object} McpNodeResponse
 * @property {(status: number, headers: Record<string, string>) => unknown} writeHead
 * @property {(body?: string) => unknown} end
 */
