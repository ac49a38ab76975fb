/* Reader comment widget, no library. Embed where the comments go:
 * <script src="https://HOST/widget.js" data-site="S" data-article="A" data-key="K" async></script>
 * (or <div data-moderation-comments data-article="A"> containers anywhere). Optional: data-author-id
 * (the site's signed-in user; else a random id per browser), data-page-size (20), data-sort
 * (newest|oldest), data-refresh (seconds, 15; 0: off). A Shadow DOM keeps page and widget
 * styles apart; what readers write only ever goes in as text, never as markup. */
(() => {
  'use strict';

  const script = document.currentScript
    || [...document.querySelectorAll('script[src*="widget.js"]')].pop();
  if (!script) return;
  // The API is wherever this script came from: a site never configures it twice.
  const base = new URL('.', script.src);
  const DAY = 864e5;
  const OFFLINE = 'Could not reach the comment service. Check your connection and try again.';
  const REASONS = [['Insulting or abusive', 'abusive'], ['Spam or advertising', 'spam'],
    ['Off topic', 'off topic'], ['Something else', 'other']];
  const CSS = `:host{all:initial!important;display:block!important}
[hidden]{display:none!important}
.mc{--a:var(--moderation-accent,#0b57d0);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:#1f2328;background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:12px 14px;overflow-wrap:anywhere}
*{box-sizing:border-box}
p{margin:0}
button,input,textarea{font:inherit;color:inherit;margin:0}
button{font-size:14px;line-height:1.3;padding:6px 12px;border:1px solid #c4c8cf;border-radius:6px;
background:#f6f8fa;cursor:pointer}
button:disabled{opacity:.6;cursor:default}
.primary{background:var(--a);border-color:var(--a);color:#fff}
.link{border:0;background:none;padding:2px 4px;color:#57606a;font-size:13px}
.link:hover{color:var(--a)}
:focus-visible{outline:2px solid var(--a);outline-offset:2px}
.bar,.row{display:flex;flex-wrap:wrap;gap:8px;align-items:center;justify-content:space-between}
.row{justify-content:start}
.count{font-weight:600;font-size:16px}
[aria-pressed=true]{background:#1f2328;border-color:#1f2328;color:#fff}
form{display:grid;gap:8px;margin:8px 0}
label{display:grid;gap:2px;font-size:13px;font-weight:600;color:#57606a}
input,textarea{width:100%;font-size:16px;font-weight:400;color:#1f2328;border:1px solid #c4c8cf;
border-radius:6px;padding:7px 9px;background:#fff}
textarea{min-height:5.5em;resize:vertical}
.msg:empty,.status:empty{display:none}
.msg,.status,.closed{font-size:14px;color:#1a7f37}
.closed,time{color:#57606a}
.error{color:#cf222e}
ol{list-style:none;margin:0;padding:0}
.threads>li{border-top:1px solid #eaeef2;padding:10px 0}
.replies{margin:8px 0 0 14px;padding-left:12px;border-left:2px solid #eaeef2}
.replies .replies .replies{margin-left:0}
.replies .replies .replies .replies{padding-left:0;border:0}
.replies>li{padding:6px 0}
.author{font-weight:600;margin-right:6px}
time,.badge{font-size:13px}
.badge{background:#fff8c5;border-radius:10px;padding:1px 8px;color:#7d4e00}
.body{white-space:pre-wrap;margin:2px 0}
.removed .body{color:#8c959f;font-style:italic}
fieldset{border:1px solid #d0d7de;border-radius:6px;margin:0;padding:8px 10px;display:grid;gap:4px}
legend{font-size:13px;font-weight:600}
fieldset label{display:flex;gap:6px;align-items:center;font-weight:400;color:inherit;font-size:14px}
fieldset input{width:auto}
.more{margin-top:10px;width:100%}`;

  // Storage may be off or full (private modes, strict settings): the widget still works.
  function recall(key, fallback) {
    try { return JSON.parse(localStorage.getItem(key)) ?? fallback; } catch (e) { return fallback; }
  }
  function keep(key, value) {
    try { localStorage.setItem(key, JSON.stringify(value)); } catch (e) { /* not kept */ }
  }

  // crypto.randomUUID exists only in secure contexts; a news site may still be on http.
  const uuid = () => crypto.randomUUID?.()
    ?? [...crypto.getRandomValues(new Uint8Array(16))].map((b) => (b + 256).toString(16).slice(1)).join('');

  // The one way this script makes DOM: text arrives only as textContent or text nodes.
  function el(tag, props, children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props || {})) {
      if (value == null || value === false) continue;
      if (name === 'text') node.textContent = value;
      else if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? '' : value);
    }
    for (const child of children || []) if (child) node.append(child);
    return node;
  }
  const button = (text, onclick, props) => el('button', { type: 'button', text, onclick, ...props });
  const when = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

  function say(node, text, error) {
    node.textContent = text || '';
    node.classList.toggle('error', !!error);
  }

  // Errors in the API's own words; a refused or unreachable request has no answer to read.
  async function failure(response) {
    if (response.status === 429) {
      const wait = Number(response.headers.get('Retry-After')) || 60;
      return `Too many comments in a short time: please wait ${wait} s and try again.`;
    }
    const data = await response.json().catch(() => null);
    return data?.error?.message || `The comment service answered ${response.status}; try again later.`;
  }

  function mount(host, config) {
    if (host.dataset.moderationMounted) return;
    host.dataset.moderationMounted = '1';
    const { site, article, key } = config;
    const root = host.attachShadow({ mode: 'open' });
    if (!site || !article || !key) {
      root.append(el('p', { text: 'Comments: data-site, data-article and data-key are required.' }));
      return;
    }
    const pageSize = Math.min(100, Math.max(1, Number(config.pageSize) || 20));
    const refreshSeconds = config.refresh === undefined ? 15 : Number(config.refresh) || 0;
    const sitePath = `v1/sites/${encodeURIComponent(site)}/`;
    const threadURL = new URL(`${sitePath}articles/${encodeURIComponent(article)}/comments`, base);
    const post = (url, payload, extra) => fetch(url, {
      method: 'POST', credentials: 'omit', body: payload,
      headers: { 'Content-Type': 'application/json', 'X-Site-Key': key, ...extra },
    });
    const pendingKey = `moderation:pending:${site}:${article}`;
    const reportedKey = `moderation:reported:${site}`;
    // A real site passes its signed-in user's id; anonymous readers get one per browser.
    const authorId = config.authorId || recall('moderation:author', null) || `anon-${uuid()}`;
    if (!config.authorId) keep('moderation:author', authorId);

    const state = { sort: config.sort === 'oldest' ? 'oldest' : 'newest', threads: [],
      cursor: null, pages: 1, etag: null, open: true, count: null, generation: 0 };
    // The reader's own comments until they show up approved, or for a day: held or
    // rejected ones never appear, and the public API does not say which they are.
    let pending = recall(pendingKey, []).filter((c) => Date.now() - c.at < DAY);
    const reported = new Set(recall(reportedKey, []));

    const count = el('p', { class: 'count', text: 'Comments' });
    const sorts = [['newest', 'Newest'], ['oldest', 'Oldest']].map(([sort, text]) => button(text, () => {
      if (state.sort !== sort) { state.sort = sort; render(); load(1); }
    }, { 'data-sort': sort }));
    const status = el('p', { class: 'status', role: 'status' });
    const list = el('ol', { class: 'threads', 'aria-label': 'Comments' });
    const more = button('Load more comments', () => loadMore(), { class: 'more', hidden: true });
    const closed = el('p', { class: 'closed', text: 'Comments are closed on this article.', hidden: true });
    const mainForm = commentForm(null);
    if (root.adoptedStyleSheets && CSSStyleSheet.prototype.replaceSync) {
      // A constructed sheet, not an inline <style>: strict style-src policies allow it.
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      root.adoptedStyleSheets = [sheet];
    } else {
      root.append(el('style', { text: CSS }));
    }
    root.append(el('div', { class: 'mc' }, [
      el('div', { class: 'bar' }, [count,
        el('div', { class: 'row', role: 'group', 'aria-label': 'Sort comments' }, sorts)]),
      mainForm, closed, status, list, more,
    ]));

    // A form that sends one request at a time and tells the outcome in its own line.
    function sender(props, fields, label, cancel, send, done) {
      const submit = el('button', { type: 'submit', class: 'primary', text: label });
      const msg = el('p', { class: 'msg', role: 'status' });
      const form = el('form', props, [...fields, el('div', { class: 'row' }, [submit, cancel]), msg]);
      form.addEventListener('submit', async (event) => {
        event.preventDefault();
        const request = !submit.disabled && send(msg);
        if (!request) return;
        submit.disabled = true;
        try {
          const response = await request;
          if (response.ok) done(await response.json(), msg);
          else say(msg, await failure(response), true);
        } catch (e) {
          say(msg, OFFLINE, true);
        } finally {
          submit.disabled = false;
        }
      });
      return form;
    }

    function commentForm(parentId, close) {
      const name = el('input', { name: 'name', autocomplete: 'nickname', maxlength: 100 });
      name.value = recall('moderation:name', '');
      const body = el('textarea', { name: 'body', rows: parentId ? 3 : 4 });
      // One key per comment, kept until it is stored: a double click, or a retry after an
      // answer was lost, stores it once.
      let attempt = null;
      const props = { class: parentId ? 'reply-form' : 'post-form',
        'aria-label': parentId ? 'Reply' : 'Write a comment' };
      return sender(props,
        [el('label', {}, ['Name', name]), el('label', {}, [parentId ? 'Reply' : 'Comment', body])],
        parentId ? 'Post reply' : 'Post comment', close && button('Cancel', close),
        (msg) => {
          const comment = { author: { id: authorId, name: name.value.trim() }, body: body.value.trim() };
          if (parentId) comment.parent_id = parentId;
          if (!comment.author.name) { say(msg, 'Please enter your name.', true); name.focus(); return null; }
          if (!comment.body) { say(msg, 'Please write a comment first.', true); body.focus(); return null; }
          const payload = JSON.stringify(comment);
          if (attempt?.payload !== payload) attempt = { payload, comment, key: uuid() };
          say(msg, 'Posting…');
          return post(threadURL, payload, { 'Idempotency-Key': attempt.key });
        },
        ({ id }, msg) => {
          const { comment } = attempt;
          attempt = null;
          keep('moderation:name', comment.author.name);
          if (!pending.some((c) => c.id === id)) {
            pending.push({ id, parent: parentId, name: comment.author.name, body: comment.body,
              at: Date.now() });
            keep(pendingKey, pending);
          }
          body.value = '';
          const what = parentId ? 'reply' : 'comment';
          say(parentId ? status : msg, `Thanks! Your ${what} is awaiting moderation.`);
          render();
          schedule();
        });
    }

    function reportForm(id, reportButton, slot) {
      const reasons = REASONS.map(([label, value], i) => el('label', {}, [
        el('input', { type: 'radio', name: 'reason', value, checked: i === 0 }), label]));
      return sender({ class: 'report-form', 'aria-label': 'Report comment' },
        [el('fieldset', {}, [el('legend', { text: 'Why should the moderators look at this?' }), ...reasons])],
        'Send report', button('Cancel', () => slot.replaceChildren()),
        () => post(new URL(`${sitePath}comments/${id}/reports`, base),
          JSON.stringify({ reason: slot.querySelector(':checked').value })),
        () => {
          reported.add(id);
          keep(reportedKey, [...reported].slice(-200));
          reportButton.disabled = true;
          reportButton.textContent = 'Reported';
          const thanks = 'Thanks for the report: a moderator will look at it.';
          slot.replaceChildren(el('p', { class: 'msg', role: 'status', text: thanks }));
        });
    }

    // One inline form under a comment at a time; its button clicked again closes it.
    function toggle(slot, kind, make) {
      const open = slot.firstChild?.dataset.kind === kind;
      slot.replaceChildren();
      if (open) return;
      const form = make();
      form.dataset.kind = kind;
      slot.append(form);
      form.querySelector('textarea, :checked').focus();
    }

    function item(c, own) {
      const node = el('article', { class: own ? 'comment pending' : 'comment', 'data-id': c.id }, [
        el('p', {}, [el('span', { class: 'author', text: own ? c.name : c.author.name }), own
          ? el('span', { class: 'badge', text: 'Awaiting moderation' })
          : el('time', { datetime: c.created_at, text: when.format(new Date(c.created_at)) })]),
        el('p', { class: 'body', text: c.body }),
      ]);
      if (!own) {
        const slot = el('div', { class: 'slot' });
        const close = () => slot.replaceChildren();
        const done = reported.has(c.id);
        const report = button(done ? 'Reported' : 'Report',
          () => toggle(slot, 'report', () => reportForm(c.id, report, slot)),
          { class: 'link', disabled: done });
        const reply = state.open
          && button('Reply', () => toggle(slot, 'reply', () => commentForm(c.id, close)), { class: 'link' });
        node.append(el('div', {}, [reply, report]), slot);
      }
      return el('li', {}, [node]);
    }

    // A removed comment with visible replies stays as a placeholder: the replies keep their place.
    function thread(c) {
      const li = c.removed ? el('li', {}, [el('article', { class: 'comment removed', 'data-id': c.id },
        [el('p', { class: 'body', text: '[removed]' })])]) : item(c);
      const replies = [...c.replies.map(thread), ...mine(c.id)];
      if (replies.length) li.append(el('ol', { class: 'replies' }, replies));
      return li;
    }
    const mine = (parent) => pending.filter((c) => (c.parent || null) === parent).map((c) => item(c, true));

    function render() {
      const n = state.count;
      count.textContent = n === null ? 'Comments' : `${n} comment${n === 1 ? '' : 's'}`;
      for (const b of sorts) b.setAttribute('aria-pressed', b.dataset.sort === state.sort);
      mainForm.hidden = !state.open;
      closed.hidden = state.open;
      list.replaceChildren(...mine(null), ...state.threads.map(thread));
      more.hidden = !state.cursor;
    }

    async function fetchPage(cursor) {
      const url = new URL(threadURL);
      url.search = new URLSearchParams({ sort: state.sort, limit: pageSize, ...(cursor && { cursor }) });
      // 'no-cache': the browser revalidates its copy with If-None-Match each time, so an
      // unchanged thread costs a 304; and no custom header means no CORS preflight.
      const response = await fetch(url, { credentials: 'omit', cache: 'no-cache' });
      if (!response.ok) throw new Error(await failure(response));
      return { ...(await response.json()), etag: response.headers.get('ETag') };
    }

    // (Re)loads the first `pages` pages; a refresh stops at an unchanged ETag. Answers to
    // an older load (the sort switched meanwhile) are dropped.
    async function load(pages, refresh) {
      const generation = ++state.generation;
      if (!refresh) say(status, 'Loading comments…');
      try {
        const first = await fetchPage(null);
        if (generation !== state.generation || (refresh && first.etag === state.etag)) return;
        const threads = [...first.threads];
        let data = first;
        for (let page = 1; page < pages && data.next_cursor; page++) {
          data = await fetchPage(data.next_cursor);
          threads.push(...data.threads);
        }
        if (generation !== state.generation) return;
        Object.assign(state, { threads, pages, cursor: data.next_cursor, etag: first.etag,
          open: first.article.open, count: first.article.approved_count });
        if (!refresh || status.classList.contains('error')) say(status, '');
        settle();
      } catch (e) {
        const text = e instanceof TypeError ? OFFLINE : `Comments could not be loaded: ${e.message}`;
        if (generation === state.generation) say(status, text, true);
      }
    }

    async function loadMore() {
      const generation = state.generation;
      more.disabled = true;
      try {
        const data = await fetchPage(state.cursor);
        if (generation !== state.generation) return;
        state.threads.push(...data.threads);
        state.cursor = data.next_cursor;
        state.pages += 1;
        settle();
        // Keyboard and screen reader users carry on reading at the first new thread.
        const fresh = data.threads[0] && list.querySelector(`[data-id="${data.threads[0].id}"]`);
        fresh?.setAttribute('tabindex', '-1');
        fresh?.focus();
      } catch (e) {
        say(status, e instanceof TypeError ? OFFLINE : e.message, true);
      } finally {
        more.disabled = false;
      }
    }

    // Own comments that now appear in the thread are approved: no longer pending.
    function settle() {
      const seen = new Set();
      const walk = (c) => { seen.add(c.id); c.replies.forEach(walk); };
      state.threads.forEach(walk);
      const left = pending.filter((c) => !seen.has(c.id) && Date.now() - c.at < DAY);
      if (left.length !== pending.length) keep(pendingKey, left);
      pending = left;
      render();
    }

    // Checks for news while the page is visible, sooner just after the reader posted. Never
    // under an open reply or report form: a re-render would lose what is being typed.
    let timer = 0;
    function schedule() {
      clearTimeout(timer);
      if (!refreshSeconds) return;
      const recent = pending.some((c) => Date.now() - c.at < 12e4);
      timer = setTimeout(tick, (recent ? Math.min(5, refreshSeconds) : refreshSeconds) * 1000);
    }
    async function tick() {
      const typing = list.querySelector('.slot > form');
      if (document.visibilityState === 'visible' && !typing) await load(state.pages, true);
      schedule();
    }
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') tick();
    });

    render();
    load(1).then(schedule);
  }

  // A script tag naming an article mounts right after itself; containers mount once the
  // page has them, taking what they do not say (site, key...) from the script tag.
  if (script.dataset.article) {
    const host = document.createElement('moderation-comments');
    script.after(host);
    mount(host, { ...script.dataset });
  }
  const containers = () => {
    for (const box of document.querySelectorAll('[data-moderation-comments]')) {
      mount(box, { ...script.dataset, ...box.dataset });
    }
  };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', containers);
  else containers();
})();
