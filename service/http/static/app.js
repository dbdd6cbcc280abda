/* clausewise chat: one self-contained script, no build step.
 *
 *   Clausewise.mount(element, { endpoint: "https://host", apiKey: "…", heading: true, title: "…" })
 *
 * renders the chat into `element` (a normal element or a shadow root). It calls the service's
 * JSON API: POST {endpoint}/v1/chat/completions for answers (the conversation is sent along,
 * so short follow-ups are understood) and GET {endpoint}/passages/{id}?context=1 for a cited
 * passage with its neighbouring text. An empty endpoint means "the origin this page came from".
 */
(function () {
  "use strict";

  var MODEL = "clausewise";
  var KEY_STORE = "clausewise.apiKey";
  var counter = 0;

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (name) {
        var value = attrs[name];
        if (value === null || value === undefined || value === false) return;
        if (name === "text") node.textContent = value;
        else if (name === "className") node.className = value;
        else if (name.slice(0, 2) === "on") node.addEventListener(name.slice(2), value);
        else node.setAttribute(name, value === true ? "" : value);
      });
    }
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) return;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function joinUrl(endpoint, path) {
    if (!endpoint) return path; // relative to the page: works under a path prefix too
    return endpoint.replace(/\/+$/, "") + "/" + path;
  }

  function pagesLabel(c) {
    if (c.page_start === null || c.page_start === undefined) return null;
    if (c.page_end === null || c.page_end === undefined || c.page_end === c.page_start) return "p. " + c.page_start;
    return "pp. " + c.page_start + "–" + c.page_end;
  }

  /* The view of a citation in its source (the page with the passage marked, or the text
   * scrolled to it): the citation's `url` is relative to the service's root. */
  function sourceHref(endpoint, cit) {
    return cit.url ? joinUrl(endpoint, cit.url.replace(/^\/+/, "")) : null;
  }

  function sourceLink(endpoint, cit, label) {
    var href = sourceHref(endpoint, cit);
    if (!href) return null;
    return el("a", { className: "cw-source-link", href: href, target: "_blank", rel: "noopener", text: label });
  }

  function squash(text) {
    return String(text || "").replace(/\s+/g, " ").trim();
  }

  /* Text with the [n] markers turned into buttons that open passage n. */
  function withMarkers(text, open) {
    var nodes = [];
    var re = /\[(\d+)\]/g;
    var last = 0;
    var match;
    while ((match = re.exec(text)) !== null) {
      if (match.index > last) nodes.push(document.createTextNode(text.slice(last, match.index)));
      var number = parseInt(match[1], 10);
      nodes.push(el("button", {
        type: "button", className: "cw-marker", text: "[" + number + "]",
        "aria-label": "Open source " + number, onclick: function (n) { return function (e) { open(n, e.currentTarget); }; }(number)
      }));
      last = re.lastIndex;
    }
    if (last < text.length) nodes.push(document.createTextNode(text.slice(last)));
    return nodes;
  }

  /* A passage's text with its highlight span in <mark>. */
  function markedText(text, highlight) {
    if (!highlight) return [document.createTextNode(text)];
    return [
      document.createTextNode(text.slice(0, highlight.start)),
      el("mark", { text: text.slice(highlight.start, highlight.end) }),
      document.createTextNode(text.slice(highlight.end))
    ];
  }

  function mount(root, options) {
    options = options || {};
    var id = "cw" + (++counter);
    var endpoint = options.endpoint || "";
    var apiKey = options.apiKey || "";
    try { apiKey = apiKey || sessionStorage.getItem(KEY_STORE) || ""; } catch (e) { /* storage blocked */ }
    var history = []; // {role, content} sent to /v1/chat/completions
    var busy = false;

    var log = el("div", { className: "cw-log", role: "log", "aria-live": "polite", "aria-label": "Conversation", tabindex: "0" });
    var empty = el("p", { className: "cw-empty", text: "Ask a question about the indexed policy and treaty texts. Every answer is quoted from them and cited to document, section and page; follow-up questions such as “and for children?” are understood." });
    log.appendChild(empty);

    var input = el("textarea", {
      id: id + "-q", className: "cw-input", rows: "2", name: "question", autocomplete: "off",
      placeholder: "Ask about the documents…", "aria-describedby": id + "-hint", required: true
    });
    var send = el("button", { type: "submit", className: "cw-send", text: "Ask" });
    var reset = el("button", { type: "button", className: "cw-reset", text: "New conversation", onclick: function () { clear(); } });
    var form = el("form", { className: "cw-form", "aria-label": "Ask a question" }, [
      el("label", { "for": id + "-q", className: "cw-label", text: "Your question" }),
      el("div", { className: "cw-row" }, [input, send]),
      el("div", { className: "cw-row cw-row-small" }, [
        el("span", { id: id + "-hint", className: "cw-hint", text: "Enter to ask, Shift+Enter for a new line." }), reset
      ])
    ]);

    var dialogTitle = el("h2", { id: id + "-dtitle", className: "cw-dialog-title" });
    var dialogMeta = el("p", { className: "cw-dialog-meta" });
    var dialogBody = el("div", { className: "cw-dialog-body" });
    var dialogClose = el("button", { type: "button", className: "cw-close", text: "Close", "aria-label": "Close the passage" });
    var dialog = el("dialog", { className: "cw-dialog", "aria-labelledby": id + "-dtitle" }, [
      el("div", { className: "cw-dialog-head" }, [dialogTitle, dialogClose]), dialogMeta, dialogBody
    ]);
    var opener = null;
    dialogClose.addEventListener("click", function () { dialog.close(); });
    dialog.addEventListener("click", function (e) { if (e.target === dialog) dialog.close(); }); // backdrop
    dialog.addEventListener("close", function () { if (opener && opener.focus) opener.focus(); });

    var children = [];
    if (options.heading !== false) {
      children.push(el("header", { className: "cw-header" }, [
        el("h1", { className: "cw-title", text: options.title || "clausewise" }),
        el("p", { className: "cw-sub", text: "Answers quoted from policy and treaty texts, with page-exact citations." })
      ]));
    }
    var shell = el("div", { className: "cw" }, children.concat([log, form, dialog]));
    root.appendChild(shell);

    function headers() {
      var h = { "Content-Type": "application/json" };
      if (apiKey) h.Authorization = "Bearer " + apiKey;
      return h;
    }

    function clear() {
      history = [];
      while (log.firstChild) log.removeChild(log.firstChild);
      log.appendChild(empty);
      input.value = "";
      input.focus();
    }

    function scrollDown() { log.scrollTop = log.scrollHeight; }

    function addUser(text) {
      if (empty.parentNode) log.removeChild(empty);
      var item = el("div", { className: "cw-msg cw-user" }, [
        el("span", { className: "cw-who", text: "You" }), el("p", { className: "cw-text", text: text })
      ]);
      log.appendChild(item);
      scrollDown();
    }

    function addError(message, status) {
      var children = [el("span", { className: "cw-who", text: "Error" }), el("p", { className: "cw-text", text: message })];
      if (status === 401 || status === 403) {
        var keyInput = el("input", { type: "password", id: id + "-key-" + log.children.length, className: "cw-key", autocomplete: "off" });
        children.push(el("form", {
          className: "cw-keyform", onsubmit: function (e) {
            e.preventDefault();
            apiKey = keyInput.value.trim();
            try { sessionStorage.setItem(KEY_STORE, apiKey); } catch (err) { /* storage blocked */ }
            item.parentNode.removeChild(item);
            input.focus();
          }
        }, [el("label", { "for": keyInput.id, text: "API key" }), keyInput, el("button", { type: "submit", text: "Use key" })]));
      }
      var item = el("div", { className: "cw-msg cw-error", role: "alert" }, children);
      log.appendChild(item);
      scrollDown();
    }

    function addAnswer(reply) {
      var citations = reply.citations || [];
      var info = reply.clausewise || {};
      var byNumber = {};
      citations.forEach(function (c) { byNumber[c.number] = c; });
      function open(number, button) { if (byNumber[number]) openPassage(byNumber[number], button); }

      var parts = [el("span", { className: "cw-who", text: "clausewise" })];
      if (info.followup) {
        parts.push(el("p", { className: "cw-note", text: "Read as a follow-up: searched for “" + info.query + "”." }));
      }
      parts.push(el("blockquote", { className: "cw-answer" }, withMarkers(info.answer || "", open)));
      if (citations.length) {
        var list = el("ol", { className: "cw-sources", "aria-label": "Sources" });
        citations.forEach(function (c) {
          var cit = c.citation;
          var meta = [cit.section, pagesLabel(cit)].filter(Boolean).join(" · ");
          list.appendChild(el("li", { className: "cw-source" }, [el("button", {
            type: "button", className: "cw-chip", "aria-haspopup": "dialog",
            "aria-label": "Source " + c.number + ": " + cit.title + (meta ? ", " + meta : "") + ". Open the passage.",
            onclick: function (e) { openPassage(c, e.currentTarget); }
          }, [
            el("span", { className: "cw-chip-n", text: String(c.number) }),
            el("span", { className: "cw-chip-body" }, [
              el("span", { className: "cw-chip-title", text: cit.title }),
              meta ? el("span", { className: "cw-chip-meta", text: meta }) : null
            ])
          ]), sourceLink(endpoint, cit, "in the document ↗")]));
        });
        parts.push(list);
      }
      log.appendChild(el("div", { className: "cw-msg cw-bot" }, parts));
      scrollDown();
    }

    function openPassage(source, button) {
      opener = button || null;
      var cit = source.citation;
      dialogTitle.textContent = "[" + source.number + "] " + cit.title;
      dialogMeta.textContent = [cit.section, pagesLabel(cit), cit.source, cit.ocr ? "read by OCR" : null].filter(Boolean).join(" · ");
      while (dialogBody.firstChild) dialogBody.removeChild(dialogBody.firstChild);
      var main = el("p", { className: "cw-passage cw-passage-main" }, markedText(source.text, source.highlight));
      var link = sourceLink(endpoint, cit, "Open in the document ↗");
      if (link) dialogBody.appendChild(el("p", { className: "cw-open-source" }, [link]));
      dialogBody.appendChild(main);
      if (!dialog.open) dialog.showModal();
      dialogClose.focus();
      fetch(joinUrl(endpoint, "passages/" + encodeURIComponent(source.id) + "?context=1"), { headers: headers() })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (detail) {
          if (!detail) return;
          (detail.previous || []).forEach(function (p) {
            dialogBody.insertBefore(neighbour(p, "Before"), main);
          });
          (detail.next || []).forEach(function (p) { dialogBody.appendChild(neighbour(p, "After")); });
        })
        .catch(function () { /* the passage itself is shown already */ });
    }

    function neighbour(p, label) {
      var pages = pagesLabel(p.citation);
      return el("div", { className: "cw-neighbour" }, [
        el("p", { className: "cw-neighbour-label", text: label + (pages ? " · " + pages : "") }),
        el("p", { className: "cw-passage", text: squash(p.text) })
      ]);
    }

    function ask(question) {
      if (busy) return;
      busy = true;
      send.disabled = true;
      shell.setAttribute("aria-busy", "true");
      addUser(question);
      var pending = el("div", { className: "cw-msg cw-bot cw-pending" }, [
        el("span", { className: "cw-who", text: "clausewise" }), el("p", { className: "cw-text", text: "Searching the documents…" })
      ]);
      log.appendChild(pending);
      scrollDown();
      var messages = history.concat([{ role: "user", content: question }]);
      fetch(joinUrl(endpoint, "v1/chat/completions"), {
        method: "POST", headers: headers(), body: JSON.stringify({ model: MODEL, messages: messages })
      }).then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (body) { return { status: r.status, ok: r.ok, body: body }; });
      }).then(function (res) {
        log.removeChild(pending);
        if (!res.ok) {
          var message = (res.body && res.body.error && res.body.error.message) || ("The service answered " + res.status + ".");
          addError(message, res.status);
          return;
        }
        history = messages.concat([{ role: "assistant", content: (res.body.clausewise || {}).answer || "" }]);
        addAnswer(res.body);
      }).catch(function () {
        if (pending.parentNode) log.removeChild(pending);
        addError("Could not reach the service. Check the connection and try again.");
      }).then(function () {
        busy = false;
        send.disabled = false;
        shell.removeAttribute("aria-busy");
        input.focus();
      });
    }

    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var question = input.value.trim();
      if (!question) { input.focus(); return; }
      input.value = "";
      ask(question);
    });
    input.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        if (form.requestSubmit) form.requestSubmit(); else form.dispatchEvent(new Event("submit", { cancelable: true }));
      }
    });
    if (options.autofocus !== false) input.focus();
    return { ask: ask, clear: clear, element: shell };
  }

  window.Clausewise = { mount: mount, version: "0.1.0" };
})();
