// Types of `tasktoken/mcp`: the task-token gate of MCP servers (Model Context Protocol).
// Tool `NAME` is action `tools:call` on resource `tools/NAME`; prompt `NAME` is `prompts:get`
// on `prompts/NAME`. No type here comes from @modelcontextprotocol/sdk (an optional peer):
// `McpAuthInfo` is the SDK's `AuthInfo` shape, and `McpGate` fits its `OAuthTokenVerifier`.
import type { AuditEvent, TaskClaims, TaskTokenError, Verifier } from "./index.js";

/** The actions an MCP server's task tokens carry: `["tools:call", "prompts:get"]`. */
export const MCP_SCOPES: readonly ["tools:call", "prompts:get"];

/** What the gate tells handlers about the task token besides the SDK's fields. */
export type McpAuthExtra = {
  /** The non-human identity the task was granted to (`clientId` too). */
  sub: string | undefined;
  /** The workflow segment the token serves. */
  task: string | undefined;
  /** The token's id (its revocation key). */
  jti: string | undefined;
  /** How the token came: `Authorization: Bearer`, or `DPoP` with a proof of its key. */
  scheme: "Bearer" | "DPoP";
  /** The verified claims. */
  claims: TaskClaims;
};

/**
 * The SDK's `AuthInfo` (handlers see it as `extra.authInfo`): `clientId` is the token's
 * `sub`, `scopes` its actions, `expiresAt` its `exp`, `resource` this server. `token` is the
 * task token itself: never log it.
 */
export type McpAuthInfo = {
  token: string;
  clientId: string;
  scopes: string[];
  expiresAt: number;
  resource: URL;
  extra: McpAuthExtra;
};

/** The RFC 9728 Protected Resource Metadata document the gate serves. */
export type ProtectedResourceMetadata = {
  resource: string;
  authorization_servers: string[];
  bearer_methods_supported: ["header"];
  scopes_supported: string[];
  dpop_signing_alg_values_supported: string[];
  dpop_bound_access_tokens_required?: true;
  resource_name?: string;
  resource_documentation?: string;
};

interface McpGateCommonOptions {
  /**
   * This server's canonical URI (`https://mcp.example.com/mcp`): the RFC 8707 resource
   * indicator clients ask tokens for, and the `aud` every token must carry.
   */
  resource: string;
  /** The metadata's `authorization_servers` (default `[issuer]`). */
  authorizationServers?: string[];
  /** Only DPoP-bound tokens (announced as `dpop_bound_access_tokens_required`). */
  requireBinding?: boolean;
  /** The metadata's `resource_name`. */
  resourceName?: string;
  /** The metadata's `resource_documentation` (an http(s) URL). */
  resourceDocumentation?: string;
  /** The largest JSON-RPC body read, in bytes (default 4 MiB). */
  maxBodyBytes?: number;
  /** The DPoP nonce proofs must carry, or a function returning the current one. */
  dpopNonce?: string | (() => string);
  /** Receives each request's audit event. */
  onDecision?: (event: AuditEvent) => void;
  /**
   * MCP sessions whose owner the gate remembers (default 10,000; the least recently used is
   * forgotten first, and then answered 404 like an unknown session).
   */
  maxSessions?: number;
}

/** A gate that verifies with a Verifier of yours (its `audience` must be `resource`). */
export interface McpGateVerifierOptions extends McpGateCommonOptions {
  verifier: Verifier;
  service?: never;
  /** The token service's `issuer`, the default authorization server. */
  issuer?: string;
}

/** A gate that follows the token service's keys and revocation data itself. */
export interface McpGateServiceOptions extends McpGateCommonOptions {
  verifier?: never;
  /** The token service's base URL (`<service>/.well-known/jwks.json`, `<service>/revocation`). */
  service: string | URL;
  /** The token service's `issuer`: the `iss` of the tokens it mints. */
  issuer: string;
  /** Seconds between refreshes of the keys (default 300). */
  keysInterval?: number;
  /** Seconds between refreshes of the revocation data (default 5). */
  revocationInterval?: number;
  /** The fetch used to follow the service. */
  fetch?: typeof fetch;
  /** Receives failed refreshes (the gate fails closed meanwhile). */
  onError?: (error: Error) => void;
}

export type McpGateOptions = McpGateVerifierOptions | McpGateServiceOptions;

export type McpCheckResult =
  | {
      ok: true;
      authInfo: McpAuthInfo;
      parsedBody: unknown;
      /**
       * Hand it the transport's Response (it returns it): binds the session an `initialize`
       * answer opens (`Mcp-Session-Id`) to this token's identity, forgets one a `DELETE` ended.
       */
      record(response: Response): Response;
    }
  | { ok: false; response: Response; error?: TaskTokenError };

/** Minimal shapes of Node's IncomingMessage (or Express's request) and ServerResponse. */
export interface McpNodeRequest extends AsyncIterable<Uint8Array | string> {
  url?: string;
  originalUrl?: string;
  method?: string;
  headers: Record<string, string | string[] | undefined>;
  auth?: McpAuthInfo;
  body?: unknown;
}
export interface McpNodeResponse {
  writeHead(status: number, headers: Record<string, string>): unknown;
  end(body?: string): unknown;
}

/**
 * The task-token gate of one MCP server: the per-request check (Fetch API and Node), the
 * SDK's bearer-auth verifier, and the Protected Resource Metadata document.
 */
export class McpGate {
  constructor(options: McpGateOptions);
  /** This server's canonical URI. */
  readonly resource: string;
  /** The metadata document's URL, named in every challenge (`resource_metadata`). */
  readonly metadataUrl: string;
  /** The metadata document's path (`/.well-known/oauth-protected-resource/…`). */
  readonly metadataPath: string;
  /** With `service`: the key refresh running now, for a Worker's `ctx.waitUntil()`, or `null`. */
  readonly pending: Promise<void> | null;
  /** The Verifier the gate uses. */
  readonly verifier: Verifier;
  /** The RFC 9728 document (a fresh object). */
  metadata(): ProtectedResourceMetadata;
  /** With `service`: resolves once keys and revocation data are loaded. */
  ready(): Promise<void>;
  /** With `service`: background refreshes (Node, browsers). */
  start(): this;
  stop(): void;
  /**
   * Decides a Fetch API request: `ok` with the `AuthInfo` and the parsed body for the
   * transport, or the `response` to send (the metadata document, 401, 403, 400, 413, 503).
   */
  check(request: Request): Promise<McpCheckResult>;
  /**
   * `check`, then `handler` (the transport) for what passes, recording the session its
   * Response opens or ends; a refusal is answered without calling it.
   */
  handle(
    request: Request,
    handler: (options: { authInfo: McpAuthInfo; parsedBody: unknown }) => Response | Promise<Response>,
  ): Promise<Response>;
  /**
   * The gate for Node's http server and Express: sets `req.auth` and `req.body` and calls
   * `next()`, or writes the answer and resolves to `null`. It wraps `res.writeHead` to see
   * the session the transport opens or ends.
   */
  node(req: McpNodeRequest, res: McpNodeResponse, next?: (error?: unknown) => void): Promise<McpAuthInfo | null>;
  /** The SDK's `OAuthTokenVerifier`: a valid Bearer task token for this server, or a rejection. */
  verifyAccessToken(token: string): Promise<McpAuthInfo>;
}
