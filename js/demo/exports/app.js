// The export-links page: every link is checked locally with the same wasm verifier the
// servers use; states and countdowns update every second without any network call.
import { RevocationFilter, Verifier, checkLink, fetchLink } from "tasktoken/verify";

const STATE_TEXT = {
  valid: "Ready",
  expired: "Expired",
  not_yet_valid: "Not yet valid",
  wrong_resource: "Wrong dataset",
  revoked: "Revoked",
  wrong_origin: "Another site",
  invalid: "Invalid",
};

const list = document.getElementById("links");
const status = document.getElementById("status");
const get = (path) => fetch(path, { cache: "no-store" });

const jwks = await (await get("/api/jwks")).json();
const links = await (await get("/api/links")).json();
let verifier = await makeVerifier();

async function makeVerifier() {
  const snapshot = new Uint8Array(await (await get("/api/revocation/snapshot")).arrayBuffer());
  return new Verifier({
    issuers: { "https://auth.example": jwks },
    audience: "exports",
    revocation: RevocationFilter.fromSnapshot(snapshot, jwks),
  });
}

function check(link) {
  return checkLink(new URL(link.url, location.href), {
    verifier, action: "datasets:export", resource: link.resource,
  });
}

function countdown(seconds) {
  const m = Math.floor(seconds / 60);
  const s = String(seconds % 60).padStart(2, "0");
  return `${m}:${s} left`;
}

function render() {
  list.replaceChildren(...links.map((link, i) => {
    const result = check(link);
    const item = document.createElement("li");
    item.className = `link state-${result.state}`;
    item.dataset.kind = link.kind;
    item.dataset.state = result.state;
    item.innerHTML = `
      <div class="info">
        <div class="label"></div>
        <div class="meta"><code></code></div>
      </div>
      <div class="badge"></div>
      <div class="time"></div>
      <button type="button">Download</button>`;
    item.querySelector(".label").textContent = link.label;
    item.querySelector("code").textContent = link.resource;
    item.querySelector(".badge").textContent = STATE_TEXT[result.state];
    item.querySelector(".badge").title = result.code ? `${result.code}: ${result.message}` : "";
    item.querySelector(".time").textContent =
      result.state === "valid" ? countdown(result.secondsLeft) : result.code ?? "";
    const button = item.querySelector("button");
    button.disabled = result.state !== "valid";
    button.addEventListener("click", () => download(i));
    return item;
  }));
}

async function download(i) {
  const link = links[i];
  const url = new URL(link.url, location.href);
  const response = await fetchLink(url);
  window.lastDownloadedLink = url.href;
  if (response.ok) {
    const blob = await response.blob();
    const name = /filename="([^"]+)"/.exec(response.headers.get("content-disposition") ?? "")?.[1];
    const a = Object.assign(document.createElement("a"), {
      href: URL.createObjectURL(blob), download: name ?? "export.csv",
    });
    a.click();
    URL.revokeObjectURL(a.href);
    status.textContent = `Downloaded ${name} (${blob.size} bytes). The link is now used up.`;
  } else {
    const body = await response.json().catch(() => ({}));
    status.textContent = `Refused: ${body.error ?? response.status}. Ask for a new link.`;
  }
  status.dataset.result = response.ok ? "ok" : "refused";
  verifier = await makeVerifier();
  render();
}

render();
window.firstCheckMs = performance.now();
setInterval(render, 1000);
