"use strict";
// The approver's token lives in this closure only: not in storage, cookies or the URL.
(() => {
  let token = null;
  const $ = (id) => document.getElementById(id);
  const status = (text) => { $("status").textContent = text; };
  // Relative to /approvals/ui, so the page works behind a path prefix too.
  const base = new URL("../approvals", document.baseURI);

  async function call(url, method) {
    const response = await fetch(url, {
      method,
      headers: { authorization: `Bearer ${token}` },
      cache: "no-store",
      credentials: "omit",
      redirect: "error",
      referrerPolicy: "no-referrer",
    });
    let body = null;
    try { body = await response.json(); } catch { body = null; }
    return { status: response.status, body };
  }

  function describe(result) {
    const b = result.body;
    const text = b && typeof b.error_description === "string" ? b.error_description : "";
    return `${result.status} ${b && typeof b.error === "string" ? b.error : "error"}: ${text}`;
  }

  function field(list, name, value) {
    const dt = document.createElement("dt");
    dt.textContent = name;
    const dd = document.createElement("dd");
    dd.textContent = Array.isArray(value) ? value.join(" ") : String(value ?? "—");
    list.append(dt, dd);
  }

  function render(approvals) {
    const list = $("list");
    list.replaceChildren();
    if (approvals.length === 0) {
      status("No request is waiting for you.");
      return;
    }
    status(`${approvals.length} request(s) waiting.`);
    const now = Date.now() / 1000;
    for (const a of approvals) {
      const item = document.createElement("article");
      item.className = "request";
      item.dataset.id = a.id;
      const title = document.createElement("h2");
      title.textContent = `${a.policy}: ${a.task}`;
      const facts = document.createElement("dl");
      field(facts, "requested by", `${a.identity} ${a.iss} ${a.sub ?? ""}`);
      field(facts, "token subject", a.token_sub);
      field(facts, "actions", a.scope);
      field(facts, "resources", a.res);
      field(facts, "audience", a.aud);
      field(facts, "lifetime", `${a.ttl} s${a.dlg ? `, delegation depth ${a.dlg}` : ""}`);
      field(facts, "bound to a key", a.bound ? "yes (DPoP)" : "no");
      field(facts, "expires in", `${Math.max(0, Math.round(a.expires_at - now))} s`);
      const actions = document.createElement("div");
      actions.className = "actions";
      for (const [verb, label] of [["approve", "Approve"], ["deny", "Deny"]]) {
        const button = document.createElement("button");
        button.type = "button";
        button.className = verb;
        button.textContent = label;
        button.addEventListener("click", () => decide(a.id, verb));
        actions.append(button);
      }
      item.append(title, facts, actions);
      list.append(item);
    }
  }

  async function refresh() {
    if (token === null) return;
    try {
      const result = await call(base, "GET");
      if (result.status !== 200 || !result.body || !Array.isArray(result.body.approvals)) {
        $("list").replaceChildren();
        status(describe(result));
        return;
      }
      render(result.body.approvals);
    } catch {
      status("The service cannot be reached.");
    }
  }

  async function decide(id, verb) {
    if (token === null) return;
    const url = new URL(`approvals/${encodeURIComponent(id)}/${verb}`, base);
    try {
      const result = await call(url, "POST");
      if (result.status === 200) {
        await refresh();
        status(`Request ${id}: ${verb === "approve" ? "approved" : "denied"}.`);
      } else {
        status(describe(result));
      }
    } catch {
      status("The service cannot be reached.");
    }
  }

  $("login").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $("token");
    token = input.value.trim();
    input.value = "";
    $("forget").hidden = false;
    refresh();
  });
  $("forget").addEventListener("click", () => {
    token = null;
    $("list").replaceChildren();
    $("forget").hidden = true;
    status("Token forgotten.");
  });
  setInterval(refresh, 10_000);
})();
