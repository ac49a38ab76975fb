// The moderator desk's queue page: cards, one-key decisions, filters and live updates.
//
// Plain JavaScript, no build step. Everything a reader wrote is put on the page with
// textContent, never as HTML, and marked dir="auto" so right-to-left text reads right.
// Requests that change something carry the session's CSRF token (from the page's meta
// tag) in the X-CSRF-Token header.
(function () {
  "use strict";

  const main = document.querySelector("main.queue-page");
  if (!main) {
    return; // sign-in, comment, author and settings pages are plain forms
  }

  const base = main.dataset.base;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const site = main.dataset.site;
  const queue = main.dataset.queue;
  const sort = main.dataset.sort;
  const filtered = main.dataset.filtered === "1";
  const thresholds = JSON.parse(main.dataset.thresholds || "{}");

  const list = document.getElementById("cards");
  const empty = document.getElementById("empty");
  const loading = document.getElementById("loading");
  const more = document.getElementById("more");
  const notes = document.getElementById("notes");
  const help = document.getElementById("help");
  const live = document.getElementById("live");
  const selection = document.getElementById("selection");
  const rejectDialog = document.getElementById("reject-dialog");
  const rejectForm = document.getElementById("reject-form");
  const panel = document.getElementById("author-panel");
  const panelBody = document.getElementById("author-body");
  const noteForm = document.getElementById("note-form");

  // Statuses, queues and actions as the server defines them (moderation/statuses.py).
  const vocabulary = JSON.parse(main.dataset.vocabulary);
  // The status this queue's comments are in ("reported" and "auto" hold approved ones).
  const queueStatus = vocabulary.queue_status;
  // The feed event that brings a new card here; other queues only update their counts.
  const liveEvent = vocabulary.live_event;
  // [action, label, key]: the buttons this queue's cards offer, labelled for this queue.
  const ACTIONS = vocabulary.actions;
  // Keys decide the focused card (lower case) or the selection (upper case).
  const KEYS = {};
  ACTIONS.forEach(function (action) { KEYS[action[2]] = action[0]; });
  const DONE = vocabulary.done;
  const FEATURABLE = queueStatus === "approved" && queue !== "reported";
  // The API's filters, exactly as the address gives them.
  const FILTERS = ["q", "article", "author", "reason", "language", "sort"];
  const filterQuery = new URLSearchParams();
  new URLSearchParams(window.location.search).forEach(function (value, name) {
    if (FILTERS.indexOf(name) !== -1 && value) {
      filterQuery.set(name, value);
    }
  });
  // Fetch the next page while this many cards are still ahead of the focused one.
  const AHEAD = 8;

  let focused = null;
  let nextCursor = null;
  let loaded = false;
  let pageLoad = null;
  let queueCount = Number((document.querySelector('.count[data-queue="' + queue + '"]') || {}).textContent) || 0;
  // Set by each counts event: an empty page may be looked at again.
  let countsChanged = true;

  // --- small helpers -------------------------------------------------------------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined && text !== null) {
      node.textContent = String(text);
    }
    return node;
  }

  // Readers' words: any script, any direction.
  function userText(tag, className, text) {
    const node = el(tag, className, text);
    node.dir = "auto";
    return node;
  }

  function link(className, text, href) {
    const anchor = el("a", className, text);
    anchor.href = href;
    return anchor;
  }

  function note(text, kind) {
    const item = el("p", "note" + (kind ? " " + kind : ""), text);
    notes.prepend(item);
    setTimeout(function () { item.remove(); }, 8000);
    return item;
  }

  async function api(path, options) {
    const response = await fetch(base + path, Object.assign({ credentials: "same-origin" }, options));
    if (response.status === 401) {
      window.location.assign(base + "/signin");
      throw new Error("signed out");
    }
    const body = await response.json();
    if (!response.ok) {
      throw new Error((body.error && body.error.message) || "HTTP " + response.status);
    }
    return body;
  }

  function send(path, payload) {
    return api(path, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(payload),
    });
  }

  function sitePath(rest) {
    return "/sites/" + encodeURIComponent(site) + rest;
  }

  function cards() {
    return Array.from(list.querySelectorAll("li.card"));
  }

  function cardFor(id) {
    return list.querySelector('li.card[data-id="' + Number(id) + '"]');
  }

  function refresh() {
    const count = cards().length;
    const busy = pageLoad !== null;
    // "Nothing waits" only when nothing does: while the queue still counts comments, an
    // empty list means the next page is on its way.
    const waiting = !filtered && queueCount > 0;
    empty.hidden = !loaded || busy || count > 0 || waiting;
    loading.hidden = count > 0 || (loaded && !busy && !waiting);
    const chosen = list.querySelectorAll("li.card.selected").length;
    selection.textContent = chosen + " selected";
    main.classList.toggle("has-selection", chosen > 0);
    document.querySelectorAll("button.bulk").forEach(function (button) {
      button.disabled = chosen === 0;
    });
    if (!focused && count > 0) {
      focus(cards()[0], false);
    }
    keepAhead();
  }

  // --- cards ---------------------------------------------------------------------

  function when(iso) {
    const time = el("time", null, iso ? new Date(iso).toLocaleString() : "");
    if (iso) {
      time.dateTime = iso;
    }
    return time;
  }

  function scoreRow(label, value) {
    const limits = thresholds[label];
    let level = "low";
    if (limits && value >= limits.reject) {
      level = "reject";
    } else if (limits && value >= limits.hold) {
      level = "hold";
    }
    const row = el("div", "score level-" + level);
    row.append(el("span", "score-label", label.replace(/_/g, " ")));
    const bar = el("span", "bar");
    bar.setAttribute("role", "img");
    let description = label + " " + value.toFixed(2);
    const fill = el("span", "fill");
    fill.style.width = Math.max(0, Math.min(1, value)) * 100 + "%";
    bar.append(fill);
    if (limits) {
      description += "; hold at " + limits.hold + ", reject at " + limits.reject;
      [["hold", limits.hold], ["reject", limits.reject]].forEach(function (mark) {
        const tick = el("span", "mark mark-" + mark[0]);
        tick.style.left = mark[1] * 100 + "%";
        tick.title = mark[0] + " at " + mark[1];
        bar.append(tick);
      });
    }
    bar.setAttribute("aria-label", description);
    row.append(bar, el("span", "score-value", value.toFixed(2)));
    return row;
  }

  function scores(item) {
    const box = el("div", "scores");
    const names = Object.keys(item.scores || {}).filter(function (label) {
      return typeof item.scores[label] === "number";
    });
    names.sort(function (a, b) { return item.scores[b] - item.scores[a]; });
    names.forEach(function (label) { box.append(scoreRow(label, item.scores[label])); });
    if (!names.length) {
      box.append(el("p", "hint", "No scores."));
    }
    return box;
  }

  function authorLine(item) {
    const line = el("p", "author");
    const author = item.author;
    if (!author) {
      line.append(userText("span", "author-name", item.author_name || "anonymous"), " · no author record");
      return line;
    }
    const name = link("author-name", author.name || author.external_id,
      base + sitePath("/authors/" + Number(author.id)));
    name.dir = "auto";
    name.dataset.author = author.id;
    name.setAttribute("aria-haspopup", "true");
    line.append(name);
    if (author.status !== "normal") {
      line.append(" ", el("span", "badge status-" + author.status, author.status));
    }
    const h = author.history;
    line.append(el("span", "author-history",
      h.approved + " approved · " + h.rejected + " rejected · " + h.spam + " spam"));
    return line;
  }

  function articleLine(item) {
    const line = el("p", "article-line");
    const article = item.article;
    const title = article.title || article.id;
    let name;
    if (article.url) {
      name = link("article", title, article.url);
      name.rel = "noopener noreferrer";
      name.target = "_blank";
    } else {
      name = el("span", "article", title);
    }
    name.dir = "auto";
    const story = new URLSearchParams({ article: article.id });
    line.append("On ", name, " · ",
      link("story-filter", "this story's queue", base + sitePath("/queues/" + queue + "?" + story)),
      " · ",
      link("thread-link", "thread & history", base + sitePath("/comments/" + Number(item.id))));
    return line;
  }

  function buildCard(item) {
    const card = el("li", "card");
    card.dataset.id = item.id;
    card.dataset.status = item.status;
    card.dataset.version = item.version;
    card.dataset.risk = item.risk;
    card.dataset.reports = item.reports.count;
    card.dataset.featured = item.featured ? "1" : "";
    card.tabIndex = -1;
    card.setAttribute("aria-label", "Comment " + item.id);

    const head = el("div", "card-head");
    const pick = el("label", "pick");
    const box = el("input");
    box.type = "checkbox";
    box.className = "select";
    box.setAttribute("aria-label", "Select comment " + item.id);
    pick.append(box, " #" + item.id);
    head.append(pick, el("span", "badge status-" + item.status, item.status));
    if (item.featured) {
      head.append(el("span", "badge featured-badge", "featured"));
    }
    if (item.hidden) {
      head.append(el("span", "badge hidden-badge", "hidden by reports"));
    }
    if (item.edited_at) {
      head.append(el("span", "badge", "edited"));
    }
    if (item.language) {
      head.append(el("span", "badge lang", item.language));
    }
    head.append(when(item.created_at));
    card.append(head, articleLine(item));

    if (item.parent) {
      const parent = el("blockquote", "parent");
      parent.append(el("span", "parent-head",
        "In reply to " + (item.parent.author_name || "anonymous") +
        (item.parent.status !== "approved" ? " (" + item.parent.status + ")" : "") + ":"));
      parent.append(userText("span", "parent-body", item.parent.body || ""));
      card.append(parent);
    }

    card.append(userText("p", "body", item.body));
    card.append(authorLine(item));

    const why = el("div", "why");
    if (item.reasons.length) {
      const reasons = el("ul", "reasons");
      item.reasons.forEach(function (reason) { reasons.append(userText("li", null, reason)); });
      why.append(reasons);
    }
    if (item.reports.count) {
      const reports = el("div", "reports");
      reports.append(el("strong", null, item.reports.count + (item.reports.count === 1 ? " report" : " reports")));
      const reasons = el("ul", "report-reasons");
      item.reports.reasons.forEach(function (reason) { reasons.append(userText("li", null, reason)); });
      reports.append(reasons);
      why.append(reports);
    }
    why.append(scores(item));
    card.append(why);

    const actions = el("div", "actions");
    ACTIONS.forEach(function (action) {
      const button = el("button", "decide decide-" + action[0]);
      button.type = "button";
      button.dataset.action = action[0];
      button.append(action[1] + " ", el("kbd", null, action[2]));
      actions.append(button);
    });
    if (FEATURABLE) {
      const feature = el("button", "feature");
      feature.type = "button";
      feature.setAttribute("aria-pressed", item.featured ? "true" : "false");
      feature.append("Feature ", el("kbd", null, "f"));
      actions.append(feature);
    }
    card.append(actions);
    return card;
  }

  // Where a card stands in this queue's order: cards sort by these, largest first.
  function rank(card) {
    const id = Number(card.dataset.id);
    if (sort === "oldest") {
      return [-id];
    }
    if (sort === "newest") {
      return [id];
    }
    const risk = Number(card.dataset.risk);
    return queue === "reported" ? [Number(card.dataset.reports), risk, id] : [risk, id];
  }

  function before(a, b) {
    for (let i = 0; i < a.length; i++) {
      if (a[i] !== b[i]) {
        return a[i] > b[i];
      }
    }
    return false;
  }

  function add(item) {
    if (!cardFor(item.id)) {
      list.append(buildCard(item));
    }
  }

  // A card that arrives live goes where the queue's order puts it; one that belongs
  // after every loaded card waits for its page, unless there is no further page.
  function insertLive(item) {
    if (cardFor(item.id) || sort === "sample") {
      return;
    }
    const card = buildCard(item);
    const mine = rank(card);
    const next = cards().find(function (other) { return before(mine, rank(other)); });
    if (next) {
      next.before(card);
    } else if (!nextCursor) {
      list.append(card);
    } else {
      return;
    }
    card.classList.add("fresh");
    refresh();
  }

  function remove(card, message) {
    if (card === focused) {
      const next = nextCard(card, 1) || nextCard(card, -1);
      focused = null;
      if (next) {
        focus(next, true);
      }
    }
    if (message) {
      const gone = el("li", "gone", message);
      gone.setAttribute("role", "status");
      card.replaceWith(gone);
      setTimeout(function () { gone.remove(); }, 10000);
    } else {
      card.remove();
    }
    refresh();
  }

  // One page load at a time; `fresh` starts the queue over (a new sample, or a list
  // emptied by decisions while the queue still counts comments).
  function loadPage(fresh) {
    if (pageLoad) {
      return pageLoad;
    }
    if (fresh) {
      nextCursor = null;
    }
    const query = new URLSearchParams(filterQuery);
    if (nextCursor) {
      query.set("cursor", nextCursor);
    }
    more.disabled = true;
    pageLoad = (async function () {
      try {
        const body = await api("/api" + sitePath("/queues/" + queue) + "?" + query);
        body.items.forEach(add);
        nextCursor = body.next_cursor;
      } catch (error) {
        note("Could not load the queue: " + error.message, "bad");
      } finally {
        loaded = true;
        pageLoad = null;
        more.hidden = !nextCursor;
        more.disabled = false;
        refresh();
      }
    })();
    refresh();
    return pageLoad;
  }

  // Keeps cards ahead of the moderator: the next page comes before the last card goes.
  function keepAhead() {
    if (!loaded || pageLoad) {
      return;
    }
    const all = cards();
    const at = focused ? all.indexOf(focused) : 0;
    if (nextCursor && all.length - at <= AHEAD) {
      loadPage(false);
    } else if (!all.length && !nextCursor && queueCount > 0 && countsChanged) {
      countsChanged = false;
      loadPage(true);
    }
  }

  // One at a time, in the feed's order.
  let arrivals = Promise.resolve();

  function fetchCard(id, shown) {
    arrivals = arrivals.then(function () { return loadCard(id, shown); });
  }

  function matches(item) {
    const author = filterQuery.get("author");
    const reason = (filterQuery.get("reason") || "").toLowerCase();
    return (!filterQuery.get("article") || item.article.id === filterQuery.get("article")) &&
      (!author || (item.author && String(item.author.id) === author)) &&
      (!filterQuery.get("language") || item.language === filterQuery.get("language")) &&
      (!reason || item.reasons.some(function (r) { return r.toLowerCase().indexOf(reason) !== -1; }));
  }

  // The server says which queues the item is in: a reported comment kept is approved
  // still, but no longer reported.
  function belongs(item) {
    return item.queues.indexOf(queue) !== -1 && matches(item);
  }

  let searchNote = null;

  // `shown`: the card of a decision refused though the comment kept the status it showed.
  // Its author edited it, and the card comes back; or someone else decided it (kept a
  // reported comment, confirmed an auto-approved one), and it has left this queue.
  async function loadCard(id, shown) {
    try {
      const item = await api("/api/comments/" + Number(id));
      // The feed can be ahead of us: add the card only if it still belongs here.
      const here = belongs(item);
      if (shown) {
        remove(shown, here ? "#" + id + " changed since it was shown: here it is again"
          : decidedBefore(id, item.status));
      }
      if (!here) {
        return;
      }
      if (filterQuery.get("q")) {
        // Whether new text matches a search is the server's to say: offer a reload.
        if (!searchNote || !searchNote.isConnected) {
          searchNote = note("New comments arrived. ", null);
          const again = el("button", "link", "Search again");
          again.type = "button";
          again.addEventListener("click", function () { window.location.reload(); });
          searchNote.append(again);
        }
        return;
      }
      insertLive(item);
    } catch (error) {
      if (shown) {
        remove(shown);
      }
      note("Could not load comment #" + id + ": " + error.message, "bad");
    }
  }

  // An author's edit changes the text under the moderator's eyes: the card takes the new
  // one where it stands, keeping the focus and the selection, so that a key pressed next
  // decides the card the moderator was reading. A decision already on its way finds the
  // edit itself, as a conflict.
  async function reloadCard(id) {
    let item;
    try {
      item = await api("/api/comments/" + Number(id));
    } catch (error) {
      note("Could not load comment #" + id + ": " + error.message, "bad");
      return;
    }
    const card = cardFor(id);
    if (!card || card.classList.contains("busy")) {
      return;
    }
    if (!belongs(item)) {
      remove(card, "#" + id + " was edited by its author and left this queue");
      return;
    }
    const edited = buildCard(item);
    const chosen = card.classList.contains("selected");
    edited.classList.toggle("selected", chosen);
    edited.querySelector("input.select").checked = chosen;
    const reading = card.contains(document.activeElement);
    card.replaceWith(edited);
    if (card === focused) {
      focused = null;
      focus(edited, reading);
    }
    note("#" + id + " was edited by its author: the card shows the new text", null);
    refresh();
  }

  // --- focus, selection, decisions -------------------------------------------------

  function nextCard(card, step) {
    let node = step > 0 ? card.nextElementSibling : card.previousElementSibling;
    while (node && !node.classList.contains("card")) {
      node = step > 0 ? node.nextElementSibling : node.previousElementSibling;
    }
    return node;
  }

  function focus(card, scroll) {
    if (focused) {
      focused.classList.remove("focused");
    }
    focused = card;
    card.classList.add("focused");
    if (scroll) {
      card.focus({ preventScroll: true });
      card.scrollIntoView({ block: "nearest" });
    }
  }

  function move(step) {
    if (!focused) {
      const all = cards();
      if (all.length) {
        focus(all[0], true);
      }
      return;
    }
    const next = nextCard(focused, step);
    if (next) {
      focus(next, true);
    }
    keepAhead();
  }

  function toggle(card) {
    const on = !card.classList.contains("selected");
    card.classList.toggle("selected", on);
    card.querySelector("input.select").checked = on;
    refresh();
  }

  function decidedBefore(id, status) {
    return "#" + id + " was already " + (DONE[status] || status) + " by someone else";
  }

  async function decide(chosen, action, reason) {
    chosen = chosen.filter(function (card) { return !card.classList.contains("busy"); });
    if (!chosen.length) {
      return;
    }
    chosen.forEach(function (card) { card.classList.add("busy"); });
    const decisions = chosen.map(function (card) {
      // The version too: an author's edit keeps the status but changes the text shown.
      const decision = {
        id: Number(card.dataset.id),
        action: action,
        expected_status: card.dataset.status,
        expected_version: Number(card.dataset.version),
      };
      if (reason) {
        decision.reason = reason;
      }
      return decision;
    });
    let body;
    try {
      body = await send("/api/decisions", { decisions: decisions });
    } catch (error) {
      chosen.forEach(function (card) { card.classList.remove("busy"); });
      note("Nothing was decided: " + error.message, "bad");
      return;
    }
    body.results.forEach(function (result) {
      const card = cardFor(result.id);
      if (!card) {
        return;
      }
      if (result.outcome === "applied") {
        remove(card);
      } else if (result.outcome === "conflict" && result.status === card.dataset.status) {
        fetchCard(result.id, card);
      } else if (result.outcome === "conflict") {
        remove(card, decidedBefore(result.id, result.status));
      } else if (result.outcome === "not_found") {
        remove(card, "#" + result.id + " no longer exists");
      } else {
        card.classList.remove("busy");
        note("#" + result.id + ": " + result.message, "bad");
      }
    });
  }

  // Reject asks for a reason first (the site's list, or words of one's own).
  function act(chosen, action) {
    if (!chosen.length) {
      return;
    }
    if (action === "reject") {
      askReason(chosen);
    } else {
      decide(chosen, action);
    }
  }

  async function feature(card) {
    const featured = card.dataset.featured !== "1";
    try {
      await send("/api/comments/" + Number(card.dataset.id) + "/feature", { featured: featured });
    } catch (error) {
      note("#" + card.dataset.id + ": " + error.message, "bad");
      return;
    }
    card.dataset.featured = featured ? "1" : "";
    card.querySelector("button.feature").setAttribute("aria-pressed", featured ? "true" : "false");
    const badge = card.querySelector(".featured-badge");
    if (featured && !badge) {
      card.querySelector(".card-head .badge").after(el("span", "badge featured-badge", "featured"));
    } else if (!featured && badge) {
      badge.remove();
    }
    note("#" + card.dataset.id + (featured ? " is featured for readers" : " is no longer featured"));
  }

  function selected() {
    return Array.from(list.querySelectorAll("li.card.selected"));
  }

  // --- dialogs: keys, reject reasons (modal, focus kept inside) --------------------

  let openDialog = null;
  let dialogReturn = null;

  function showDialog(dialog, first) {
    dialogReturn = document.activeElement;
    openDialog = dialog;
    dialog.hidden = false;
    first.focus();
  }

  function closeDialog() {
    if (!openDialog) {
      return;
    }
    openDialog.hidden = true;
    openDialog = null;
    const back = focused || dialogReturn;
    if (back && back.isConnected) {
      back.focus({ preventScroll: true });
    }
  }

  // Tab and Shift+Tab cycle within the open dialog: focus never leaves it for the page.
  function trapFocus(event) {
    const focusable = Array.from(openDialog.querySelectorAll(
      "button, input, select, textarea, a[href], [tabindex]:not([tabindex='-1'])"))
      .filter(function (node) { return !node.disabled && node.offsetParent !== null; });
    if (!focusable.length) {
      return;
    }
    const first = focusable[0];
    const last = focusable[focusable.length - 1];
    const inside = openDialog.contains(document.activeElement);
    if (event.shiftKey && (document.activeElement === first || !inside)) {
      last.focus();
      event.preventDefault();
    } else if (!event.shiftKey && (document.activeElement === last || !inside)) {
      first.focus();
      event.preventDefault();
    }
  }

  let rejecting = [];

  function askReason(chosen) {
    rejecting = chosen;
    rejectForm.reset();
    showDialog(rejectDialog, rejectForm.querySelector("input[name=reject-reason]:checked"));
  }

  rejectForm.addEventListener("submit", function (event) {
    event.preventDefault();
    const choice = rejectForm.querySelector("input[name=reject-reason]:checked").value;
    const words = document.getElementById("reject-note").value.trim();
    const reason = [choice, words].filter(Boolean).join(": ");
    const chosen = rejecting;
    rejecting = [];
    closeDialog();
    decide(chosen, "reject", reason || null);
  });
  document.getElementById("reject-cancel").addEventListener("click", function () {
    rejecting = [];
    closeDialog();
  });

  function typing(target) {
    if (!target || !target.tagName) {
      return false;
    }
    if (target.isContentEditable || target.tagName === "TEXTAREA" || target.tagName === "SELECT") {
      return true;
    }
    return target.tagName === "INPUT" &&
      !["checkbox", "radio", "button", "submit", "reset"].includes(target.type);
  }

  function dialogKeys(event) {
    const key = event.key;
    if (key === "Tab") {
      trapFocus(event);
      return;
    }
    if (key === "Escape" || (key === "?" && openDialog === help)) {
      closeDialog();
      event.preventDefault();
      return;
    }
    if (openDialog === rejectDialog && key === "Enter" && event.target.tagName !== "BUTTON") {
      rejectForm.requestSubmit();
      event.preventDefault();
      return;
    }
    if (openDialog === rejectDialog && /^[1-9]$/.test(key) && !typing(event.target)) {
      const options = rejectForm.querySelectorAll("input[name=reject-reason]");
      const option = options[Number(key)];
      if (option) {
        option.checked = true;
        option.focus();
      }
      event.preventDefault();
    }
  }

  document.addEventListener("keydown", function (event) {
    if (openDialog) {
      dialogKeys(event);
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) {
      if (event.key === "Escape" && !panel.hidden) {
        closePanel();
      }
      return;
    }
    const key = event.key;
    if (key === "?") {
      showDialog(help, document.getElementById("help-close"));
    } else if (key === "Escape") {
      if (!panel.hidden) {
        closePanel();
      } else {
        selected().forEach(toggle);
      }
    } else if (key === "j") {
      move(1);
    } else if (key === "k") {
      move(-1);
    } else if (key === "x") {
      if (focused) {
        toggle(focused);
      }
    } else if (key === "/") {
      document.querySelector(".filters input[name=q]").focus();
    } else if (key === "o") {
      if (focused) {
        window.location.assign(base + sitePath("/comments/" + Number(focused.dataset.id)));
      }
    } else if (key === "u") {
      const author = focused && focused.querySelector("a.author-name");
      if (author) {
        openAuthor(author.dataset.author);
      }
    } else if (key === "f" && FEATURABLE) {
      if (focused) {
        feature(focused);
      }
    } else if (KEYS[key]) {
      if (focused) {
        act([focused], KEYS[key]);
      }
    } else if (KEYS[key.toLowerCase()]) {
      act(selected(), KEYS[key.toLowerCase()]);
    } else {
      return;
    }
    event.preventDefault();
  });

  list.addEventListener("click", function (event) {
    const card = event.target.closest("li.card");
    if (!card) {
      return;
    }
    focus(card, false);
    const button = event.target.closest("button.decide");
    const author = event.target.closest("a.author-name");
    if (button) {
      act([card], button.dataset.action);
    } else if (event.target.closest("button.feature")) {
      feature(card);
    } else if (author && !event.ctrlKey && !event.metaKey && !event.shiftKey) {
      event.preventDefault();
      openAuthor(author.dataset.author);
    } else if (event.target.matches("input.select")) {
      card.classList.toggle("selected", event.target.checked);
      refresh();
    }
  });

  document.querySelectorAll("button.bulk").forEach(function (button) {
    button.addEventListener("click", function () { act(selected(), button.dataset.action); });
  });
  document.getElementById("help-button").addEventListener("click", function () {
    showDialog(help, document.getElementById("help-close"));
  });
  document.getElementById("help-close").addEventListener("click", closeDialog);
  [help, rejectDialog].forEach(function (dialog) {
    dialog.addEventListener("click", function (event) {
      if (event.target === dialog) {
        closeDialog();
      }
    });
  });
  more.addEventListener("click", function () { loadPage(false); });
  const moreFilters = document.querySelector(".filters .more-filters");
  moreFilters.addEventListener("click", function () {
    const open = moreFilters.closest(".filters").classList.toggle("expanded");
    moreFilters.setAttribute("aria-expanded", open ? "true" : "false");
  });
  const resample = document.getElementById("resample");
  if (resample) {
    resample.addEventListener("click", function () {
      cards().forEach(function (card) { card.remove(); });
      focused = null;
      loadPage(true);
    });
  }

  // --- the author beside the queue ------------------------------------------------

  let panelAuthor = null;

  function closePanel() {
    panel.hidden = true;
    main.classList.remove("with-panel");
    panelAuthor = null;
    if (focused) {
      focused.focus({ preventScroll: true });
    }
  }

  function noteItem(entry) {
    const item = el("li", "author-note");
    item.append(userText("p", "body", entry.body),
      el("p", "meta", (entry.moderator ? entry.moderator.name : "") + " · " + new Date(entry.at).toLocaleString()));
    return item;
  }

  async function openAuthor(id) {
    let author;
    try {
      author = await api("/api/authors/" + Number(id));
    } catch (error) {
      note("Could not load the author: " + error.message, "bad");
      return;
    }
    panelAuthor = author.id;
    panelBody.replaceChildren();
    document.getElementById("author-panel-title").textContent = author.name || author.external_id;
    document.getElementById("author-panel-title").dir = "auto";
    const standing = el("p", "meta");
    standing.append(el("span", "badge status-" + author.status, author.status), " · id ",
      userText("code", null, author.external_id));
    const h = author.history;
    const history = el("p", "meta", h.approved + " approved · " + h.review + " held · " +
      h.rejected + " rejected · " + h.spam + " spam");
    const page = link("author-page", "Full record and status (ban, trust…)",
      base + sitePath("/authors/" + Number(author.id)));
    const notesTitle = el("h3", null, "Notes");
    const list = el("ol", "author-notes");
    author.notes.forEach(function (entry) { list.append(noteItem(entry)); });
    if (!author.notes.length) {
      list.append(el("li", "hint none", "No notes yet."));
    }
    const recentTitle = el("h3", null, "Recent comments");
    const recent = el("ol", "author-recent");
    author.recent_comments.slice(0, 5).forEach(function (comment) {
      const item = el("li");
      item.append(el("span", "badge status-" + comment.status, comment.status), " ",
        userText("span", "body", comment.body));
      recent.append(item);
    });
    panelBody.append(standing, history, page, notesTitle, list, recentTitle, recent);
    panel.hidden = false;
    main.classList.add("with-panel");
    panel.focus();
  }

  noteForm.addEventListener("submit", async function (event) {
    event.preventDefault();
    const text = document.getElementById("note-text");
    if (!panelAuthor || !text.value.trim()) {
      return;
    }
    try {
      const saved = await send("/api/authors/" + Number(panelAuthor) + "/notes", { body: text.value });
      const notesList = panelBody.querySelector(".author-notes");
      const none = notesList.querySelector(".none");
      if (none) {
        none.remove();
      }
      notesList.prepend(noteItem(saved));
      text.value = "";
    } catch (error) {
      note("The note was not saved: " + error.message, "bad");
    }
  });
  document.getElementById("author-close").addEventListener("click", closePanel);

  // --- live updates ---------------------------------------------------------------

  function setLive(state, text) {
    live.dataset.state = state;
    live.textContent = text;
  }

  function updateCounts(counts) {
    document.querySelectorAll(".count[data-queue]").forEach(function (badge) {
      const count = counts[badge.dataset.queue];
      if (typeof count === "number") {
        badge.textContent = count;
      }
    });
    if (typeof counts[queue] === "number") {
      queueCount = counts[queue];
    }
    countsChanged = true;
    refresh();
  }

  function decidedElsewhere(data) {
    const card = cardFor(data.comment_id);
    if (!card || card.classList.contains("busy")) {
      return; // not shown, or being decided here (the answer removes it)
    }
    // Approving an approved comment takes it out of `reported` and `auto` only.
    if (data.to === queueStatus && data.from !== data.to) {
      return;
    }
    if (data.to === queueStatus && queue !== "reported" && queue !== "auto") {
      return;
    }
    let who = "automatically";
    if (data.moderator) {
      who = "by " + data.moderator.name;
    } else if (data.actor === "reader") {
      who = "by its author";
    }
    remove(card, "#" + data.comment_id + " " + (DONE[data.to] || data.to) + " " + who);
  }

  function firstLoad() {
    if (!loaded && !loading.dataset.started) {
      loading.dataset.started = "1";
      loadPage(false);
    }
  }

  // The feed starts "now" when it connects; loading the queue after its first event
  // means a comment held in between is in the page or in the feed, never in neither.
  const source = new EventSource(base + "/api" + sitePath("/events"));
  source.addEventListener("counts", function (event) {
    setLive("live", "● live");
    updateCounts(JSON.parse(event.data).counts);
    firstLoad();
  });
  source.addEventListener("held", function (event) {
    const data = JSON.parse(event.data);
    if (liveEvent === "held" && !cardFor(data.comment_id)) {
      fetchCard(data.comment_id);
    } else {
      decidedElsewhere(data);
    }
  });
  source.addEventListener("decided", function (event) {
    decidedElsewhere(JSON.parse(event.data));
  });
  source.addEventListener("edited", function (event) {
    const id = JSON.parse(event.data).comment_id;
    if (cardFor(id)) {
      arrivals = arrivals.then(function () { return reloadCard(id); });
    }
  });
  source.addEventListener("reported", function (event) {
    const data = JSON.parse(event.data);
    if (liveEvent === "reported" && !cardFor(data.comment_id)) {
      fetchCard(data.comment_id);
    }
  });
  source.addEventListener("error", function () {
    if (source.readyState === EventSource.CLOSED) {
      setLive("off", "live updates stopped: reload the page");
    } else {
      setLive("connecting", "reconnecting…");
    }
    firstLoad();
  });
  // Should the feed be slow to answer, the queue still loads.
  setTimeout(firstLoad, 3000);
})();
