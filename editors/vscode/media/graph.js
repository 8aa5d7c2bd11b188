// The TEA graph view's script: lays out the `dot` text with Graphviz (WebAssembly, bundled),
// marks each node (diagnostics, run outcome, time) and posts clicks back to the extension.
(function () {
  'use strict';
  const vscode = acquireVsCodeApi();
  const status = document.getElementById('status');
  const target = document.getElementById('graph');
  const OUTCOME_TEXT = { ok: 'ok', failed: 'failed', timeout: 'timed out', not_run: 'not run' };
  let vizPromise = null;
  let latest = 0;

  function viz() {
    if (!vizPromise) vizPromise = Viz.instance();
    return vizPromise;
  }

  function say(text, isError) {
    status.textContent = text;
    status.classList.toggle('error', Boolean(isError));
  }

  function mark(svg, looks) {
    for (const look of looks) {
      const g = svg.querySelector('#tea-' + CSS.escape(look.id));
      if (!g) continue;
      g.dataset.name = look.name;
      g.dataset.id = look.id;
      if (/^[a-z_]+$/.test(look.kind)) g.classList.add('kind-' + look.kind);
      if (look.severity) g.classList.add('severity-' + look.severity);
      if (look.outcome) {
        g.classList.add('outcome-' + look.outcome);
        g.dataset.outcome = look.outcome;
        const text = look.name + ': ' + OUTCOME_TEXT[look.outcome] + (look.time ? ' in ' + look.time : '');
        const link = g.querySelector('a');
        if (link) link.setAttributeNS('http://www.w3.org/1999/xlink', 'title', text);
        if (look.time) {
          const box = g.getBBox();
          const t = document.createElementNS('http://www.w3.org/2000/svg', 'text');
          t.setAttribute('class', 'tea-time');
          t.setAttribute('x', String(box.x + box.width + 4));
          t.setAttribute('y', String(box.y + box.height / 2 + 3));
          t.setAttribute('text-anchor', 'start');
          t.textContent = look.time;
          g.appendChild(t);
        }
      }
      g.addEventListener('click', () => vscode.postMessage({ type: 'reveal', id: look.id }));
    }
  }

  async function render(msg) {
    const seq = ++latest;
    let svg;
    try {
      svg = (await viz()).renderSVGElement(msg.dot);
    } catch (err) {
      if (seq === latest) say('Graphviz could not lay out the graph: ' + (err && err.message ? err.message : err), true);
      return;
    }
    if (seq !== latest) return; // a newer graph arrived meanwhile
    target.replaceChildren(svg);
    mark(svg, msg.looks);
    target.dataset.version = String(msg.version);
    say(msg.caption, false);
    vscode.setState({ uri: msg.uri });
  }

  window.addEventListener('message', (event) => {
    const msg = event.data;
    if (!msg || typeof msg !== 'object') return;
    if (msg.type === 'graph') void render(msg);
    else if (msg.type === 'empty') {
      latest++;
      target.replaceChildren();
      say(msg.caption, false);
    }
  });
  viz().then(
    () => vscode.postMessage({ type: 'ready' }),
    (err) => say('Graphviz (WebAssembly) did not load: ' + (err && err.message ? err.message : err), true),
  );
})();
