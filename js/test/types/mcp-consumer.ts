// A typed consumer of `tasktoken/mcp`, checked with `tsc --noEmit` by `make test-js`: the
// gate fits the MCP SDK's own types (its OAuthTokenVerifier, its transports' AuthInfo).
import { Verifier } from "tasktoken";
import {
  McpGate, MCP_SCOPES, type McpAuthInfo, type McpCheckResult, type ProtectedResourceMetadata,
} from "tasktoken/mcp";
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js";
import type { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";

const resource = "https://mcp.example/mcp";
const gate = new McpGate({
  resource,
  verifier: new Verifier({ issuers: { "https://auth.example": { keys: [] } }, audience: resource }),
  issuer: "https://auth.example",
});
const followed = new McpGate({ resource, service: "https://auth.example", issuer: "https://auth.example", revocationInterval: 5 });
await followed.ready();
followed.start().stop();

// The SDK's bearer-auth middleware takes the gate as its verifier: its OAuthTokenVerifier
// (server/auth/provider.d.ts, which needs @types/express to be read) is this interface.
interface OAuthTokenVerifier {
  verifyAccessToken(token: string): Promise<AuthInfo>;
}
const sdkVerifier: OAuthTokenVerifier = gate;
const info: AuthInfo = await sdkVerifier.verifyAccessToken("token");
const ours: McpAuthInfo = await gate.verifyAccessToken("token");
const task: string | undefined = ours.extra.task;
const scheme: "Bearer" | "DPoP" = ours.extra.scheme;
void info; void task; void scheme;

const document: ProtectedResourceMetadata = gate.metadata();
const url: string = gate.metadataUrl;
const scopes: readonly string[] = MCP_SCOPES;
void document; void url; void scopes;

export async function handle(request: Request, transport: WebStandardStreamableHTTPServerTransport): Promise<Response> {
  const checked: McpCheckResult = await gate.check(request);
  if (!checked.ok) return checked.response;
  return checked.record(await transport.handleRequest(request, { authInfo: checked.authInfo, parsedBody: checked.parsedBody }));
}

export function handled(request: Request, transport: WebStandardStreamableHTTPServerTransport): Promise<Response> {
  return gate.handle(request, (options) => transport.handleRequest(request, options));
}

// @ts-expect-error a gate takes a verifier or a service, not both
new McpGate({ resource, verifier: gate.verifier, service: "https://auth.example", issuer: "https://auth.example" });

// @ts-expect-error: MCP_SCOPES is exactly the two actions
const wrongScope: "tools:list" = MCP_SCOPES[0];
void wrongScope;
// @ts-expect-error: a gate needs its resource
new McpGate({ verifier: gate.verifier, issuer: "https://auth.example" });
