/* clausewise widget: puts the clausewise chat on any page.
 *
 *   <script src="https://clausewise.example.org/widget.js" async
 *           data-endpoint="https://clausewise.example.org"   (default: where this script came from)
 *           data-title="Ask the treaties"                    (heading of the chat)
 *           data-label="Ask the documents"                   (text of the launcher button)
 *           data-target="#help-chat"                         (render inline into this element instead of a launcher)
 *           data-open="true"                                 (start with the panel open)
 *           data-read-key="…"></script>                      (only if the service protects reads)
 *
 * data-read-key takes a READ key (CLAUSEWISE_READ_KEYS), never a write key: whatever a page
 * holds, every visitor can read, so the key is public. A read key can ask, never upload,
 * delete or rebuild. (data-api-key is the old name of this attribute.)
 *
 * The chat lives in a shadow root, so the host page's styles and ours do not mix. It calls the
 * service cross-origin: list the host page's origin in CLAUSEWISE_CORS_ORIGINS on the service.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) {
    var scripts = document.querySelectorAll("script[src*='widget.js']");
    script = scripts[scripts.length - 1];
  }
  if (!script) return;
  var src = new URL(script.getAttribute("src"), location.href);
  var base = src.href.replace(/[?#].*$/, "").replace(/(static\/)?widget\.js$/, ""); // ends with "/"
  var data = script.dataset || {};
  var endpoint = (data.endpoint || base).replace(/\/+$/, "");

  function loadApp(done) {
    if (window.Clausewise) return done();
    var existing = document.querySelector("script[data-clausewise-app]");
    var tag = existing || document.createElement("script");
    tag.addEventListener("load", function () { done(); });
    if (!existing) {
      tag.src = base + "static/app.js";
      tag.async = true;
      tag.setAttribute("data-clausewise-app", "");
      document.head.appendChild(tag);
    }
  }

  function shadowHost(parent) {
    var host = document.createElement("div");
    host.className = "clausewise-widget";
    parent.appendChild(host);
    var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
    var css = document.createElement("link");
    css.rel = "stylesheet";
    css.href = base + "static/style.css";
    root.appendChild(css);
    return { host: host, root: root };
  }

  function start() {
    loadApp(function () {
      var options = { endpoint: endpoint, apiKey: data.readKey || data.apiKey || "", title: data.title || "clausewise", autofocus: false };
      var target = data.target ? document.querySelector(data.target) : null;
      if (target) {
        var inline = shadowHost(target);
        var box = document.createElement("div");
        box.className = "cw-inline";
        inline.root.appendChild(box);
        window.Clausewise.mount(box, options);
        return;
      }
      var floating = shadowHost(document.body);
      var panelId = "clausewise-panel";
      var launcher = document.createElement("button");
      launcher.type = "button";
      launcher.className = "cw-launcher";
      launcher.textContent = data.label || "Ask the documents";
      launcher.setAttribute("aria-expanded", "false");
      launcher.setAttribute("aria-controls", panelId);
      var panel = document.createElement("section");
      panel.id = panelId;
      panel.className = "cw-panel";
      panel.hidden = true;
      panel.setAttribute("aria-label", (data.title || "clausewise") + " chat");
      floating.root.appendChild(panel);
      floating.root.appendChild(launcher);
      var chat = window.Clausewise.mount(panel, options);

      function setOpen(open) {
        panel.hidden = !open;
        launcher.setAttribute("aria-expanded", String(open));
        launcher.textContent = open ? "Close chat" : (data.label || "Ask the documents");
        if (open) {
          var field = chat.element.querySelector(".cw-input");
          if (field) field.focus();
        }
      }
      launcher.addEventListener("click", function () { setOpen(panel.hidden); });
      panel.addEventListener("keydown", function (e) {
        var dialogOpen = chat.element.querySelector("dialog[open]");
        if (e.key === "Escape" && !dialogOpen) { setOpen(false); launcher.focus(); }
      });
      if (data.open === "true") setOpen(true);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
