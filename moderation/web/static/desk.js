// The moderator desk's queue page: cards, one-key decisions and live updates.
//
// Plain JavaScript, no build step. Everything a reader wrote is put on the page with
// textContent, never as HTML. Requests that change something carry the session's CSRF
// token (from the page's meta tag) in the X-CSRF-Token header.
(function () {
  "use strict";

  const main = document.querySelector("main.queue-page");
  if (!main) {
    return; // sign-in, author and settings pages are plain forms
  }

  const base = main.dataset.base;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const site = main.dataset.site;
  const queue = main.dataset.queue;
  const me = Number(main.dataset.me);
  const thresholds = JSON.parse(main.dataset.thresholds || "{}");

  const list = document.getElementById("cards");
  const empty = document.getElementById("empty");
  const loading = document.getElementById("loading");
  const more = document.getElementById("more");
  const notes = document.getElementById("notes");
  const help = document.getElementById("help");
  const live = document.getElementById("live");
  const selection = document.getElementById("selection");

  // Statuses, queues and actions as the server defines them (moderation/statuses.py).
  const vocabulary = JSON.parse(main.dataset.vocabulary);
  // The status this queue's comments are in ("reported" holds approved ones).
  const queueStatus = vocabulary.queue_status[queue];
  // The feed event that brings a new card here; other queues only update their counts.
  const liveEvent = vocabulary.live_events[queue];
  // [action, label, key]: the buttons this queue's cards offer.
  const ACTIONS = vocabulary.actions.filter(function (action) {
    return vocabulary.queue_actions[queue].indexOf(action[0]) !== -1;
  });
  // Keys decide the focused card (lower case) or the selection (upper case).
  const KEYS = {};
  vocabulary.actions.forEach(function (action) { KEYS[action[2]] = action[0]; });
  const DONE = vocabulary.done;

  let focused = null;
  let nextCursor = null;
  let loaded = false;

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

  function note(text, kind) {
    const item = el("p", "note" + (kind ? " " + kind : ""), text);
    notes.prepend(item);
    setTimeout(function () { item.remove(); }, 8000);
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

  function cards() {
    return Array.from(list.querySelectorAll("li.card"));
  }

  function cardFor(id) {
    return list.querySelector('li.card[data-id="' + Number(id) + '"]');
  }

  function refresh() {
    const count = cards().length;
    empty.hidden = !loaded || count > 0;
    const chosen = list.querySelectorAll("li.card.selected").length;
    selection.textContent = chosen + " selected";
    main.classList.toggle("has-selection", chosen > 0);
    document.querySelectorAll("button.bulk").forEach(function (button) {
      button.disabled = chosen === 0;
    });
    if (!focused && count > 0) {
      focus(cards()[0], false);
    }
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
    const labels = Object.keys(item.scores || {}).filter(function (label) {
      return typeof item.scores[label] === "number";
    });
    labels.sort(function (a, b) { return item.scores[b] - item.scores[a]; });
    labels.forEach(function (label) { box.append(scoreRow(label, item.scores[label])); });
    if (!labels.length) {
      box.append(el("p", "hint", "No scores."));
    }
    return box;
  }

  function authorLine(item) {
    const line = el("p", "author");
    const author = item.author;
    if (!author) {
      line.append(el("span", "author-name", item.author_name || "anonymous"), " · no author record");
      return line;
    }
    const link = el("a", "author-name", author.name || author.external_id);
    link.href = base + "/sites/" + encodeURIComponent(site) + "/authors/" + Number(author.id);
    line.append(link);
    if (author.status !== "normal") {
      line.append(" ", el("span", "badge status-" + author.status, author.status));
    }
    const h = author.history;
    line.append(el("span", "author-history",
      h.approved + " approved · " + h.rejected + " rejected · " + h.spam + " spam"));
    return line;
  }

  function buildCard(item) {
    const card = el("li", "card");
    card.dataset.id = item.id;
    card.dataset.status = item.status;
    card.tabIndex = -1;

    const head = el("div", "card-head");
    const pick = el("label", "pick");
    const box = el("input");
    box.type = "checkbox";
    box.className = "select";
    box.setAttribute("aria-label", "Select comment " + item.id);
    pick.append(box, " #" + item.id);
    head.append(pick, el("span", "badge status-" + item.status, item.status));
    if (item.hidden) {
      head.append(el("span", "badge hidden-badge", "hidden by reports"));
    }
    if (item.language) {
      head.append(el("span", "badge lang", item.language));
    }
    head.append(el("span", "article", item.article.id), when(item.created_at));
    card.append(head);

    if (item.parent) {
      const parent = el("blockquote", "parent");
      parent.append(el("span", "parent-head",
        "In reply to " + (item.parent.author_name || "anonymous") +
        (item.parent.status !== "approved" ? " (" + item.parent.status + ")" : "") + ":"));
      parent.append(el("span", "parent-body", item.parent.body || ""));
      card.append(parent);
    }

    card.append(el("p", "body", item.body));
    card.append(authorLine(item));

    const why = el("div", "why");
    if (item.reasons.length) {
      const reasons = el("ul", "reasons");
      item.reasons.forEach(function (reason) { reasons.append(el("li", null, reason)); });
      why.append(reasons);
    }
    if (item.reports.count) {
      const reports = el("div", "reports");
      reports.append(el("strong", null, item.reports.count + (item.reports.count === 1 ? " report" : " reports")));
      const reasons = el("ul", "report-reasons");
      item.reports.reasons.forEach(function (reason) { reasons.append(el("li", null, reason)); });
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
    card.append(actions);
    return card;
  }

  function add(item, atTop) {
    if (cardFor(item.id)) {
      return;
    }
    const card = buildCard(item);
    if (atTop) {
      card.classList.add("fresh");
      list.prepend(card);
    } else {
      list.append(card);
    }
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

  async function loadPage() {
    const query = nextCursor ? "?cursor=" + encodeURIComponent(nextCursor) : "";
    more.disabled = true;
    try {
      const body = await api("/api/sites/" + encodeURIComponent(site) + "/queues/" + queue + query);
      body.items.forEach(function (item) { add(item, false); });
      nextCursor = body.next_cursor;
    } catch (error) {
      note("Could not load the queue: " + error.message, "bad");
    } finally {
      loaded = true;
      loading.hidden = true;
      more.hidden = !nextCursor;
      more.disabled = false;
      refresh();
    }
  }

  // One at a time, in the feed's order, so that cards stack up as comments arrived.
  let arrivals = Promise.resolve();

  function fetchCard(id) {
    arrivals = arrivals.then(function () { return loadCard(id); });
  }

  async function loadCard(id) {
    try {
      const item = await api("/api/comments/" + Number(id));
      // The feed can be ahead of us: add the card only if it still belongs here.
      if (item.status === queueStatus) {
        add(item, true);
      }
    } catch (error) {
      note("Could not load comment #" + id + ": " + error.message, "bad");
    }
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
  }

  function toggle(card) {
    const on = !card.classList.contains("selected");
    card.classList.toggle("selected", on);
    card.querySelector("input.select").checked = on;
    refresh();
  }

  async function decide(chosen, action) {
    chosen = chosen.filter(function (card) { return !card.classList.contains("busy"); });
    if (!chosen.length) {
      return;
    }
    chosen.forEach(function (card) { card.classList.add("busy"); });
    const decisions = chosen.map(function (card) {
      return { id: Number(card.dataset.id), action: action, expected_status: card.dataset.status };
    });
    let body;
    try {
      body = await api("/api/decisions", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({ decisions: decisions }),
      });
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
      } else if (result.outcome === "conflict") {
        remove(card, "#" + result.id + " was already " + (DONE[result.status] || result.status) +
          " by someone else");
      } else if (result.outcome === "not_found") {
        remove(card, "#" + result.id + " no longer exists");
      } else {
        card.classList.remove("busy");
        note("#" + result.id + ": " + result.message, "bad");
      }
    });
  }

  function selected() {
    return Array.from(list.querySelectorAll("li.card.selected"));
  }

  // --- help overlay and keys ------------------------------------------------------

  function showHelp(show) {
    help.hidden = !show;
    if (show) {
      document.getElementById("help-close").focus();
    } else if (focused) {
      focused.focus({ preventScroll: true });
    }
  }

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

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) {
      return;
    }
    const key = event.key;
    if (key === "?") {
      showHelp(help.hidden);
    } else if (key === "Escape") {
      if (!help.hidden) {
        showHelp(false);
      } else {
        selected().forEach(toggle);
      }
    } else if (!help.hidden) {
      return;
    } else if (key === "j") {
      move(1);
    } else if (key === "k") {
      move(-1);
    } else if (key === "x") {
      if (focused) {
        toggle(focused);
      }
    } else if (KEYS[key]) {
      if (focused) {
        decide([focused], KEYS[key]);
      }
    } else if (KEYS[key.toLowerCase()]) {
      decide(selected(), KEYS[key.toLowerCase()]);
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
    if (button) {
      decide([card], button.dataset.action);
    } else if (event.target.matches("input.select")) {
      card.classList.toggle("selected", event.target.checked);
      refresh();
    }
  });

  document.querySelectorAll("button.bulk").forEach(function (button) {
    button.addEventListener("click", function () { decide(selected(), button.dataset.action); });
  });
  document.getElementById("help-button").addEventListener("click", function () { showHelp(true); });
  document.getElementById("help-close").addEventListener("click", function () { showHelp(false); });
  help.addEventListener("click", function (event) {
    if (event.target === help) {
      showHelp(false);
    }
  });
  more.addEventListener("click", loadPage);

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
  }

  function decidedElsewhere(data) {
    const card = cardFor(data.comment_id);
    if (!card || (data.moderator && data.moderator.id === me)) {
      return; // not shown, or our own decision (its card is already gone)
    }
    if (data.to === queueStatus && queue !== "reported") {
      return;
    }
    const who = data.moderator ? "by " + data.moderator.name : "automatically";
    remove(card, "#" + data.comment_id + " " + (DONE[data.to] || data.to) + " " + who);
  }

  function firstLoad() {
    if (!loaded && !loading.dataset.started) {
      loading.dataset.started = "1";
      loadPage();
    }
  }

  // The feed starts "now" when it connects; loading the queue after its first event
  // means a comment held in between is in the page or in the feed, never in neither.
  const source = new EventSource(base + "/api/sites/" + encodeURIComponent(site) + "/events");
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
