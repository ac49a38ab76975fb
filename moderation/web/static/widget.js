/* Reader comment widget, no library. Embed where the comments go:
 * <script src="https://HOST/widget.js" data-site="S" data-article="A" data-key="K" async></script>
 * (or <div data-moderation-comments data-article="A"> containers anywhere). Optional: data-author-id
 * (the site's signed-in user; else the reader posts anonymously) with data-author-token (the
 * site's signature of that id, where it signs them), data-title and data-url (else the
 * page's title and canonical link), data-page-size (20), data-sort (newest|oldest), data-refresh
 * (seconds, 15; 0: off). A Shadow DOM keeps page and widget styles apart; what readers write
 * only ever goes in as text, never as markup. */
(() => {
  'use strict';

  const script = document.currentScript
    || [...document.querySelectorAll('script[src*="widget.js"]')].pop();
  if (!script) return;
  // The API is wherever this script came from: a site never configures it twice.
  const base = new URL('.', script.src);
  // The reader's own comments are kept for as long as the longest edit window a site may
  // set (own_edit_seconds: a week), and while the service still says one may be edited.
  const KEPT = 7 * 864e5;
  const UNSHOWN = 'The comment this link points to is not shown here.';
  const OFFLINE = 'Could not reach the comment service. Check your connection and try again.';
  const REASONS = [['Insulting or abusive', 'abusive'], ['Spam or advertising', 'spam'],
    ['Off topic', 'off topic'], ['Something else', '']];
  // The API's refusals a reader can do nothing about, in words for readers.
  const REFUSALS = {
    author_banned: 'You can no longer post comments on this site.',
    author_unverified: 'Your sign-in could not be confirmed (it may have expired): reload the page'
      + ' or sign in again, then post once more.',
    author_required: 'This site takes comments from signed-in readers only: please sign in first.',
    article_closed: 'Comments are closed on this article.',
    comments_closed: 'Comments are closed on this site.',
    edit_window_closed: 'This comment can no longer be changed.',
    unavailable: 'The comment service is briefly unavailable: please try again in a moment.',
  };
  const STATES = { awaiting: 'Awaiting moderation', published: 'Published',
    not_published: 'Not published' };
  // The host element is the site's to lay out and hide; inside, .mc starts from initial
  // values so that nothing the page sets on the host is inherited.
  const CSS = `:host{display:block}
:host([hidden]){display:none}
[hidden]{display:none!important}
.mc{all:initial;display:block;--a:var(--moderation-accent,#0b57d0);
font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:#1f2328;background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:12px 14px;overflow-wrap:anywhere}
*{box-sizing:border-box}
p,h2{margin:0}
button,input,textarea{font:inherit;color:inherit;margin:0}
button{font-size:14px;line-height:1.3;min-height:28px;padding:5px 12px;border:1px solid #c4c8cf;border-radius:6px;
background:#f6f8fa;cursor:pointer}
button:disabled{opacity:.6;cursor:default}
.primary{background:var(--a);border-color:var(--a);color:#fff}
.link{border:0;background:none;min-height:24px;padding:3px 6px;color:#57606a;font-size:13px;text-decoration:none}
a.link{display:inline-block}
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
.msg:empty,.status:empty,.left:empty{display:none}
.msg,.status,.closed{font-size:14px;color:#1a7f37}
.left{font-size:13px;color:#57606a}
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
.badge{background:#fff8c5;border-radius:10px;padding:1px 8px;color:#6b4300}
.badge.not_published{background:#ffebe9;color:#a40e26}
.badge.published{background:#dafbe1;color:#116329}
.body{white-space:pre-wrap;margin:2px 0}
.removed .body{color:#6e7781;font-style:italic}
.comment.target{outline:2px solid var(--a);outline-offset:4px;border-radius:4px;background:#f1f6fe}
.news{width:100%;margin:8px 0;background:#ddf4ff;border-color:#54aeff}
fieldset{border:1px solid #d0d7de;border-radius:6px;margin:0;padding:8px 10px;display:grid;gap:4px}
legend{font-size:13px;font-weight:600}
fieldset label{display:flex;gap:6px;align-items:center;font-weight:400;color:inherit;font-size:14px;min-height:24px}
fieldset input{width:auto}
.more{margin-top:10px;width:100%}`;

  // Storage may be off or full (private modes, strict settings): the widget still works.
  function recall(key, fallback) {
    try { return JSON.parse(localStorage.getItem(key)) ?? fallback; } catch (e) { return fallback; }
  }
  function keep(key, value) {
    try { localStorage.setItem(key, JSON.stringify(value)); } catch (e) { /* not kept */ }
  }

  const editable = (own) => own && own.until && Date.parse(own.until) > Date.now();
  const recent = (own) => own.secret && (Date.now() - own.at < KEPT || editable(own));
  // Each article's list goes with its last comment: the reader may never open it again.
  function forgetOld() {
    try {
      for (const key of Object.keys(localStorage)) {
        if (key.startsWith('moderation:mine:') && !recall(key, []).some(recent)) localStorage.removeItem(key);
      }
    } catch (e) { /* storage off, or not the widget's list */ }
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
  const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;

  function say(node, text, error) {
    node.textContent = text || '';
    node.classList.toggle('error', !!error);
    delete node.dataset.passing;
  }

  // An error that the service's next answer ends (it was unreachable or unavailable), as
  // against one about what the reader asked for.
  function sayPassing(node, text) {
    say(node, text, true);
    node.dataset.passing = '';
  }

  // Errors in the API's own words, or in a reader's where they can do nothing about it; a
  // refused or unreachable request has no answer to read.
  async function failure(response) {
    if (response.status === 429) {
      const wait = Number(response.headers.get('Retry-After')) || 60;
      return `Too many comments in a short time: please wait ${wait} s and try again.`;
    }
    const data = await response.json().catch(() => null);
    return REFUSALS[data?.error?.code] || data?.error?.message
      || `The comment service answered ${response.status}; try again later.`;
  }

  // Characters as the site counts them: code points after NFC (an emoji is one, U+0958 two).
  const chars = (text) => [...text.normalize('NFC')];

  // An http(s) address as the browser reads it ("https:host/x" is https://host/x), else null.
  function webAddress(text) {
    try {
      const url = new URL(text);
      return ['http:', 'https:'].includes(url.protocol) ? url.href : null;
    } catch (e) { return null; }
  }

  // The page as moderators should see it: the site's words first, else the page's own. The
  // title goes as one line (a site's may span several; a mis-decoded page's may hold
  // control characters such as U+0092), cut between characters, never inside an emoji.
  function pageInfo(config) {
    const canonical = document.querySelector('link[rel="canonical"]')?.href;
    const url = webAddress(config.url || canonical || location.href.split('#')[0]);
    const line = (config.title || document.title || '').replace(/\s+/g, ' ')
      .replace(/[\x00-\x1f\x7f-\x9f]/g, '').trim();
    const title = chars(line).slice(0, 300).join('').trim();
    return { ...(title && { title }), ...(url?.length <= 2000 && { url }) };
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
    const request = (url, method, payload, extra) => fetch(url, {
      method, credentials: 'omit', body: payload,
      headers: { 'Content-Type': 'application/json', 'X-Site-Key': key, ...extra },
    });
    const post = (url, payload, extra) => request(url, 'POST', payload, extra);
    const commentURL = (id) => new URL(`${sitePath}comments/${id}`, base);
    const mineKey = `moderation:mine:${site}:${article}`;
    const reportedKey = `moderation:reported:${site}`;

    const state = { sort: config.sort === 'oldest' ? 'oldest' : 'newest', threads: [],
      cursor: null, pages: 1, etag: null, open: true, siteOpen: true, count: null, featured: 0,
      generation: 0, tab: 'all', picks: [], incoming: null, maxLength: null };
    // Each comment box's line that says how much room is left in it.
    const lefts = new WeakMap();
    // The reader's own recent comments, with the secret each POST answered: the state
    // route tells which are awaiting, published or not published.
    let mine = recall(mineKey, []).filter(recent);
    const reported = new Set(recall(reportedKey, []));
    const keepMine = () => keep(mineKey, mine);
    const ownOf = (id) => mine.find((c) => c.id === id);

    const count = el('h2', { class: 'count', text: 'Comments' });
    const sorts = [['newest', 'Newest'], ['oldest', 'Oldest']].map(([sort, text]) => button(text, () => {
      if (state.sort !== sort) { state.sort = sort; render(); load(1); }
    }, { 'data-sort': sort }));
    const tabs = [['all', 'All comments'], ['featured', 'Featured']].map(([tab, text]) => button(text, () => {
      if (state.tab !== tab) { state.tab = tab; render(); if (tab === 'featured') loadFeatured(); }
    }, { 'data-tab': tab }));
    const tabGroup = el('div', { class: 'row', role: 'group', 'aria-label': 'Show' }, tabs);
    const sortGroup = el('div', { class: 'row', role: 'group', 'aria-label': 'Sort comments' }, sorts);
    const status = el('p', { class: 'status', role: 'status' });
    // A request that failed: unreachable (the next answer ends that), or refused in its words.
    const failed = (e) => (e instanceof TypeError ? sayPassing(status, OFFLINE) : say(status, e.message, true));
    const news = button('', () => applyIncoming(), { class: 'news', hidden: true });
    const list = el('ol', { class: 'threads', 'aria-label': 'Comments' });
    const more = button('Load more comments', () => loadMore(), { class: 'more', hidden: true });
    const closed = el('p', { class: 'closed', hidden: true });
    const mainForm = commentForm(null);
    if (root.adoptedStyleSheets && CSSStyleSheet.prototype.replaceSync) {
      // A constructed sheet, not an inline <style>: strict style-src policies allow it.
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      root.adoptedStyleSheets = [sheet];
    } else {
      root.append(el('style', { text: CSS }));
    }
    // The widget's own words are English, whatever the host page's language and direction.
    root.append(el('div', { class: 'mc', dir: 'ltr', lang: 'en' }, [
      el('div', { class: 'bar' }, [count, tabGroup, sortGroup]),
      mainForm, closed, status, news, list, more,
    ]));

    // A form that sends one request at a time and tells the outcome in its own line. `done`
    // answers where the focus goes: the disabled button dropped it, or it went with the form
    // (unless the reader put it elsewhere meanwhile). Escape does what Cancel does, and then
    // goes no further: it is not also the host page's (closing a lightbox around the story).
    function sender(props, fields, label, cancel, send, done) {
      const submit = el('button', { type: 'submit', class: 'primary', text: label });
      const msg = el('p', { class: 'msg', role: 'status' });
      const form = el('form', props, [...fields, el('div', { class: 'row' }, [submit, cancel]), msg]);
      form.addEventListener('submit', async (event) => {
        event.preventDefault();
        const sent = !submit.disabled && send(msg);
        if (!sent) return;
        submit.disabled = true;
        let target = submit;
        try {
          const response = await sent;
          if (response.ok) target = done(await response.json(), msg);
          else say(msg, await failure(response), true);
        } catch (e) {
          say(msg, OFFLINE, true);
        } finally {
          submit.disabled = false;
        }
        const dropped = root.activeElement === submit || document.activeElement === document.body;
        if (dropped) focusOn(target || submit);
      });
      form.addEventListener('keydown', (event) => {
        if (event.key !== 'Escape' || event.isComposing || !cancel) return;
        event.stopPropagation();
        cancel.click();
      });
      return form;
    }

    // A comment box holds no more than the site takes, and says how much is left once near
    // the end: politely, so that screen readers hear it, and not at every key far from it.
    function commentBox(label, rows, value = '') {
      const left = el('p', { class: 'left', id: `left-${uuid()}`, 'aria-live': 'polite' });
      const box = el('textarea', { name: 'body', rows, dir: 'auto', 'aria-describedby': left.id,
        oninput: () => fit(box) });
      box.value = value;
      lefts.set(box, left);
      fit(box);
      return [box, [el('label', {}, [label, box]), left]];
    }
    function fit(box) {
      const max = state.maxLength;
      if (!max) return;
      // The site counts characters after NFC, an emoji as one, U+0958 as two; maxlength
      // counts UTF-16 units as typed: the attribute moves by the difference (never below 0,
      // where it throws; a text pasted over the limit can still be cut).
      const length = chars(box.value).length;
      box.maxLength = Math.max(0, max + box.value.length - length);
      const left = max - length;
      say(lefts.get(box), left <= Math.min(200, max / 10) ? `${plural(left, 'character')} left` : '');
    }

    // A line under a comment, where its form was.
    const note = (text) => el('p', { class: 'msg', role: 'status', text });
    // A form closed unsent gives the focus back to the button that opened it.
    const cancelButton = (slot, text = 'Cancel') => button(text, () => {
      const kind = slot.firstChild?.dataset.kind;
      slot.replaceChildren();
      focusOn(slot.parentNode?.querySelector(`[data-act="${kind}"]`));
    });

    function commentForm(parentId, slot) {
      const name = el('input', { name: 'name', autocomplete: 'nickname', maxlength: 100, dir: 'auto' });
      name.value = recall('moderation:name', '');
      const [body, bodyFields] = commentBox(parentId ? 'Reply' : 'Comment', parentId ? 3 : 4);
      // One key per comment, kept until it is stored: a double click, or a retry after an
      // answer was lost, stores it once.
      let attempt = null;
      const props = { class: parentId ? 'reply-form' : 'post-form',
        'aria-label': parentId ? 'Reply' : 'Write a comment' };
      return sender(props,
        [el('label', {}, ['Name', name]), ...bodyFields],
        parentId ? 'Post reply' : 'Post comment', slot && cancelButton(slot),
        (msg) => {
          // Only the site's id for its signed-in reader: a site that signs ids refuses any
          // other. Anonymous readers know their comments by the secrets their posts answer.
          const author = { name: name.value.trim() };
          if (config.authorId) Object.assign(author, { id: config.authorId, token: config.authorToken });
          const comment = { author, body: body.value.trim(),
            article: pageInfo(config) };
          if (parentId) comment.parent_id = parentId;
          if (!comment.author.name) { say(msg, 'Please enter your name.', true); name.focus(); return null; }
          if (!comment.body) { say(msg, 'Please write a comment first.', true); body.focus(); return null; }
          const payload = JSON.stringify(comment);
          if (attempt?.payload !== payload) attempt = { payload, comment, key: uuid() };
          say(msg, 'Posting…');
          return post(threadURL, payload, { 'Idempotency-Key': attempt.key });
        },
        ({ id, secret }, msg) => {
          const { comment } = attempt;
          attempt = null;
          keep('moderation:name', comment.author.name);
          // A retry's answer carries a new secret that replaces the first one.
          mine = mine.filter((c) => c.id !== id);
          mine.push({ id, secret, parent: parentId, name: comment.author.name, body: comment.body,
            at: Date.now(), state: 'awaiting', until: null });
          keepMine();
          // What the reader typed while it was being sent stays for them.
          if (body.value.trim() === comment.body) body.value = '';
          const thanks = `Thanks! Your ${parentId ? 'reply' : 'comment'} is awaiting moderation.`;
          if (slot) slot.replaceChildren(note(thanks));
          else say(msg, thanks);
          render();
          checkMine();
          schedule();
          // The Featured tab shows none of the reader's own: there the thanks take the focus.
          return byId(id) || (slot ? slot.firstChild : msg);
        });
    }

    function reportForm(id, slot) {
      const other = el('input', { name: 'other', maxlength: 400, dir: 'auto' });
      const otherLabel = el('label', { hidden: true }, ['What is wrong with it?', other]);
      const reasons = REASONS.map(([label, value], i) => el('label', {}, [
        el('input', { type: 'radio', name: 'reason', value, checked: i === 0,
          onchange: () => { otherLabel.hidden = value !== ''; } }), label]));
      return sender({ class: 'report-form', 'aria-label': 'Report comment' },
        [el('fieldset', {}, [el('legend', { text: 'Why should the moderators look at this?' }), ...reasons]),
          otherLabel],
        'Send report', cancelButton(slot),
        (msg) => {
          const choice = slot.querySelector(':checked').value;
          const words = other.value.trim();
          if (!choice && !words) { say(msg, 'Please say what is wrong.', true); other.focus(); return null; }
          const reason = choice || `Something else: ${words}`;
          return post(new URL(`${sitePath}comments/${id}/reports`, base), JSON.stringify({ reason }));
        },
        () => {
          reported.add(id);
          keep(reportedKey, [...reported].slice(-200));
          // Its button now says Reported, and cannot take the focus: the thanks do.
          slot.replaceChildren(note('Thanks for the report: a moderator will look at it.'));
          render();
          return slot.firstChild;
        });
    }

    function editForm(own, slot) {
      const [body, bodyFields] = commentBox('Your comment', 4, own.body);
      return sender({ class: 'edit-form', 'aria-label': 'Edit your comment' }, bodyFields, 'Save changes',
        cancelButton(slot),
        (msg) => {
          if (!body.value.trim()) { say(msg, 'Please write a comment first.', true); return null; }
          return request(commentURL(own.id), 'PUT', JSON.stringify({ body: body.value.trim() }),
            { 'X-Comment-Secret': own.secret });
        },
        (answer) => {
          Object.assign(own, { body: answer.body, state: 'awaiting' });
          keepMine();
          slot.replaceChildren();
          // Out of the thread until it is moderated again; its replies stay.
          state.threads = unpublish(state.threads, own.id);
          say(status, 'Your comment was changed and is awaiting moderation again.');
          render();
          return byId(own.id);
        });
    }

    function deleteForm(own, slot) {
      return sender({ class: 'delete-form', 'aria-label': 'Delete your comment' },
        [el('p', { text: 'Delete your comment? This cannot be undone.' })], 'Delete',
        cancelButton(slot, 'Keep it'),
        () => request(commentURL(own.id), 'DELETE', null, { 'X-Comment-Secret': own.secret }),
        () => {
          const next = successor(own.id);
          mine = mine.filter((c) => c.id !== own.id);
          keepMine();
          state.threads = unpublish(state.threads, own.id);
          say(status, 'Your comment was deleted.');
          render();
          load(state.pages, true);
          checkMine();
          return next();
        });
    }

    // Where a reader goes on from a comment that goes: its placeholder, else the next
    // comment, else the one before, else the line that says it went.
    function successor(id) {
      const ids = [...list.querySelectorAll('article')].map((node) => node.dataset.id);
      const at = ids.indexOf(String(id));
      const order = [...ids.slice(at), ...ids.slice(0, at).reverse()];
      return () => order.map(byId).find(Boolean) || status;
    }

    // The thread without comment `id`, as the service shows it: a placeholder above its
    // replies, which stay where they are (else the next refresh offers them as news), and
    // a placeholder left above none goes.
    function unpublish(threads, id) {
      return threads.flatMap((c) => {
        const node = { ...c, replies: unpublish(c.replies, id),
          ...(c.id === id && { removed: true, author: null, body: null }) };
        return node.removed && !node.replies.length ? [] : [node];
      });
    }

    // One inline form under a comment at a time; its button clicked again closes it. The
    // focus goes to the first field left to fill, else the first choice or button.
    function toggle(slot, kind, make) {
      const open = slot.firstChild?.dataset.kind === kind;
      slot.replaceChildren();
      if (open) return;
      const form = make();
      form.dataset.kind = kind;
      slot.append(form);
      ([...form.querySelectorAll('[name=name], textarea')].find((field) => !field.value)
        || form.querySelector('textarea, :checked, button'))?.focus();
    }

    // A comment as readers see it, or the reader's own with its state and their controls.
    function item(c, own) {
      const shown = own && !c.author;
      const badge = shown && STATES[own.state];
      const node = el('article', { class: shown ? 'comment own' : 'comment', 'data-id': c.id }, [
        el('p', {}, [el('span', { class: 'author', text: shown ? own.name : c.author.name, dir: 'auto' }),
          badge ? el('span', { class: `badge ${own.state}`, text: badge })
            : el('time', { datetime: c.created_at, text: when.format(new Date(c.created_at)) })]),
        el('p', { class: 'body', text: c.body, dir: 'auto' }),
      ]);
      if (shown && own.state === 'not_published') {
        node.append(el('p', { class: 'closed', text: 'Only you can see this comment.' }));
      }
      const slot = openSlots.get(String(c.id)) || el('div', { class: 'slot' });
      if (['edit', 'delete'].includes(slot.firstChild?.dataset.kind) && !editable(own)) {
        slot.replaceChildren(note(REFUSALS.edit_window_closed));
      }
      const controls = [];
      if (!shown) {
        const done = reported.has(c.id);
        // Names that say whose comment each button acts on, as screen readers list them.
        const whose = `the comment by ${c.author.name}`;
        const report = !own && button(done ? 'Reported' : 'Report',
          () => toggle(slot, 'report', () => reportForm(c.id, slot)),
          { class: 'link', disabled: done, 'aria-label': `${done ? 'Reported' : 'Report'} ${whose}`,
            'data-act': 'report' });
        controls.push(state.open && button('Reply', () => toggle(slot, 'reply', () => commentForm(c.id, slot)),
          { class: 'link', 'aria-label': `Reply to ${whose}`, 'data-act': 'reply' }), report,
        el('a', { class: 'link permalink', href: `#comment-${c.id}`, text: 'Link',
          'aria-label': `Link to ${whose}`, 'data-act': 'link' }));
      }
      if (editable(own)) {
        const edit = () => toggle(slot, 'edit', () => editForm(own, slot));
        controls.push(state.open && button('Edit', edit, { class: 'link', 'data-act': 'edit' }),
          button('Delete', () => toggle(slot, 'delete', () => deleteForm(own, slot)),
            { class: 'link', 'data-act': 'delete' }));
      }
      if (controls.some(Boolean)) node.append(el('div', {}, controls));
      node.append(slot);
      return el('li', {}, [node]);
    }

    // A removed comment with visible replies stays above them: as a placeholder, or as the
    // reader's own where it is theirs (an edit awaits moderation again).
    function thread(c, seen) {
      seen.add(c.id);
      const yours = ownOf(c.id);
      const li = !c.removed ? item(c, yours) : yours ? item({ id: c.id, body: yours.body }, yours)
        : el('li', {}, [el('article', { class: 'comment removed', 'data-id': c.id },
          [el('p', { class: 'body', text: '[removed]' })])]);
      const replies = [...c.replies.map((r) => thread(r, seen)), ...own(c.id, seen)];
      if (replies.length) li.append(el('ol', { class: 'replies' }, replies));
      return li;
    }
    // The reader's comments the thread does not show (yet, or ever), under their parent,
    // with their own replies under them.
    const own = (parent, seen) => mine.filter((c) => (c.parent || null) === parent && !seen.has(c.id)
      && c.state !== 'deleted').map((c) => thread({ id: c.id, removed: true, replies: [] }, seen));
    // Their replies to comments readers no longer see (and the thread has no placeholder
    // for yet): under a placeholder, where the thread puts them once they are published.
    const orphans = (seen) => [...new Set(mine.filter((c) => c.parentRemoved && !seen.has(c.parent))
      .map((c) => c.parent))].map((id) => thread({ id, removed: true, replies: [] }, seen));

    // Redraws the counts, the tabs and the thread. A comment redrawn keeps the slot of a
    // reply, report, edit or delete form open under it (its buttons and the form's act on
    // that one slot), with what is typed in it and the focus, or the outcome it told. A
    // focused comment or button of one is drawn anew: the focus follows it.
    let openSlots = new Map();
    function render() {
      const focused = root.activeElement;
      const again = counterpart(focused);
      openSlots = new Map([...list.querySelectorAll('article > .slot')]
        .filter((slot) => slot.firstChild)
        .map((slot) => [slot.parentNode.dataset.id, slot]));
      draw();
      openSlots = new Map();
      const back = list.contains(focused) ? focused : again();
      if (back && root.activeElement !== back) focusOn(back, { preventScroll: true });
      redrawAtDeadline();
    }

    const byId = (id) => list.querySelector(`article[data-id="${id}"]`);
    function counterpart(node) {
      const id = list.contains(node) && node.closest('article')?.dataset.id;
      const act = node?.dataset.act;
      return () => id && (act ? byId(id)?.querySelector(`[data-act="${act}"]`) : byId(id));
    }

    // Edit, Delete and their forms go when the edit window closes.
    let deadline = 0;
    function redrawAtDeadline() {
      clearTimeout(deadline);
      const next = Math.min(...mine.map((c) => Date.parse(c.until) - Date.now()).filter((ms) => ms > 0));
      if (next < Infinity) deadline = setTimeout(render, next + 50);
    }

    function draw() {
      const featuredTab = state.tab === 'featured';
      count.textContent = state.count === null ? 'Comments' : plural(state.count, 'comment');
      for (const b of sorts) b.setAttribute('aria-pressed', b.dataset.sort === state.sort);
      for (const b of tabs) b.setAttribute('aria-pressed', b.dataset.tab === state.tab);
      tabs[1].textContent = `Featured (${state.featured})`;
      tabGroup.hidden = !state.featured && !featuredTab;
      sortGroup.hidden = featuredTab;
      mainForm.hidden = !state.open;
      for (const box of root.querySelectorAll('textarea')) fit(box);
      closed.hidden = state.open;
      closed.textContent = REFUSALS[state.siteOpen ? 'article_closed' : 'comments_closed'];
      if (featuredTab) {
        list.replaceChildren(...state.picks.map((c) => item({ ...c, replies: [] }, ownOf(c.id))));
        more.hidden = true;
        news.hidden = true;
        return;
      }
      const seen = new Set();
      const threads = state.threads.map((c) => thread(c, seen));
      list.replaceChildren(...own(null, seen), ...orphans(seen), ...threads);
      more.hidden = !state.cursor;
      const fresh = state.incoming?.fresh || 0;
      news.hidden = !fresh;
      news.textContent = `${plural(fresh, 'new comment')}: show`;
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

    const ids = (threads, into = new Set()) => {
      for (const c of threads) { if (!c.removed) into.add(c.id); ids(c.replies, into); }
      return into;
    };

    // The thread shown changes only here: answers asked of the one before (a sort switch,
    // another page, news shown meanwhile) are then dropped.
    function show(next) {
      Object.assign(state, next, { incoming: null });
      state.generation += 1;
      render();
    }

    // (Re)loads the first `pages` pages; a refresh stops at an unchanged ETag, and until it
    // shows something it drops no other answer (a slow "Load more" page). A refresh that
    // brings other readers' new comments does not slip them in under the reader's eyes: it
    // offers them.
    async function load(pages, refresh) {
      const generation = refresh ? state.generation : ++state.generation;
      if (!refresh) say(status, 'Loading comments…');
      try {
        const first = await fetchPage(null);
        if (generation !== state.generation) return;
        // The service answers again: an outage's error no longer holds.
        if ('passing' in status.dataset) say(status, '');
        if (refresh && first.etag === state.etag) return;
        const threads = [...first.threads];
        let data = first;
        for (let page = 1; page < pages && data.next_cursor; page++) {
          data = await fetchPage(data.next_cursor);
          threads.push(...data.threads);
        }
        if (generation !== state.generation) return;
        const next = { threads, pages, cursor: data.next_cursor, etag: first.etag,
          // A page cached before the site said whether it is open (a deploy's first
          // seconds) blames the article, as it used to.
          open: first.article.open, siteOpen: first.site.open !== false,
          count: first.article.approved_count,
          maxLength: first.site.max_length,
          featured: first.article.featured_count };
        const shown = ids(state.threads);
        const yours = new Set(mine.map((c) => c.id));
        next.fresh = [...ids(threads)].filter((id) => !shown.has(id) && !yours.has(id)).length;
        if (refresh && next.fresh && state.etag) {
          state.incoming = next;
          render();
          return;
        }
        if (!refresh) say(status, '');
        show(next);
      } catch (e) {
        const text = e instanceof TypeError ? OFFLINE : `Comments could not be loaded: ${e.message}`;
        if (generation === state.generation) sayPassing(status, text);
      }
    }

    // Keyboard and screen reader users carry on at the first comment they had not seen.
    function applyIncoming() {
      const seen = ids(state.threads);
      for (const c of mine) seen.add(c.id);
      show(state.incoming);
      focusOn([...list.querySelectorAll('article:not(.removed)')]
        .find((node) => !seen.has(Number(node.dataset.id))));
    }

    // A comment or a line takes the focus from script only; a button stays in the tab order.
    function focusOn(node, options) {
      if (node?.tabIndex < 0) node.setAttribute('tabindex', '-1');
      node?.focus(options);
    }

    async function loadMore() {
      const generation = state.generation;
      more.disabled = true;
      try {
        const data = await fetchPage(state.cursor);
        if (generation !== state.generation) return false;
        show({ threads: [...state.threads, ...data.threads], cursor: data.next_cursor,
          pages: state.pages + 1 });
        // Keyboard and screen reader users carry on reading at the first new thread.
        focusOn(data.threads[0] && byId(data.threads[0].id));
        return true;
      } catch (e) {
        failed(e);
        return false;
      } finally {
        more.disabled = false;
      }
    }

    async function loadFeatured() {
      try {
        const response = await fetch(new URL(`${sitePath}articles/${encodeURIComponent(article)}/featured`, base),
          { credentials: 'omit', cache: 'no-cache' });
        if (!response.ok) throw new Error(await failure(response));
        state.picks = (await response.json()).comments;
        render();
      } catch (e) {
        failed(e);
      }
    }

    // What became of the reader's own comments: only their secrets can ask, 100 at a time
    // (the route's limit). A comment posted meanwhile waits for the next check.
    async function checkMine() {
      if (!mine.length) return;
      const asked = new Set(mine.map((c) => c.id));
      const batches = [];
      for (let i = 0; i < mine.length; i += 100) batches.push(mine.slice(i, i + 100));
      const url = new URL(`${sitePath}comments/states`, base);
      try {
        const answers = await Promise.all(batches.map((batch) => post(url,
          JSON.stringify({ comments: batch.map(({ id, secret }) => ({ id, secret })) }))));
        if (!answers.every((response) => response.ok)) return;
        const found = new Map((await Promise.all(answers.map((response) => response.json())))
          .flatMap((answer) => answer.comments).map((c) => [c.id, c]));
        const kept = (c) => !asked.has(c.id) || (found.has(c.id) && found.get(c.id).state !== 'deleted');
        mine = mine.filter(kept);
        for (const c of mine.filter((m) => found.has(m.id))) {
          const now = found.get(c.id);
          Object.assign(c, { state: now.state, body: now.body, until: now.editable_until,
            parentRemoved: now.parent_removed });
        }
        keepMine();
        render();
      } catch (e) { /* the next check tells */ }
    }

    // A link to one comment (#comment-ID): its page is loaded until it shows, then it is
    // scrolled to, highlighted and focused. Another article's comment is left to the
    // widget of that article (a page may have several). What the last link did goes.
    async function reveal() {
      const id = /^#comment-(\d+)$/.exec(location.hash)?.[1];
      const find = () => list.querySelector(`article[data-id="${id}"]:not(.removed)`);
      list.querySelector('.target')?.classList.remove('target');
      if (status.textContent === UNSHOWN) say(status, '');
      if (!id) return;
      const where = find() ? 'here' : await whereIs(id);
      if (where === 'elsewhere') return;
      if (state.tab !== 'all') { state.tab = 'all'; render(); }
      for (let page = 0; where !== 'gone' && !find() && state.cursor && page < 50; page++) {
        if (!(await loadMore())) break;
      }
      const target = find();
      if (!target) { say(status, UNSHOWN, true); return; }
      target.classList.add('target');
      target.setAttribute('tabindex', '-1');
      target.focus({ preventScroll: true });
      target.scrollIntoView({ block: 'center' });
    }
    window.addEventListener('hashchange', reveal);

    // Where a linked comment is: the service names the article of a comment readers can
    // see ('here' or 'elsewhere'); one they cannot see is 'gone', "not shown here" in every
    // widget without paging; 'unknown' (unreachable) leaves it to paging.
    async function whereIs(id) {
      try {
        const response = await fetch(commentURL(id), { credentials: 'omit' });
        if (response.status === 404) return 'gone';
        if (!response.ok) return 'unknown';
        return (await response.json()).article === article ? 'here' : 'elsewhere';
      } catch (e) {
        return 'unknown';
      }
    }

    // Checks for news while the page is visible, sooner just after the reader posted.
    let timer = 0;
    function schedule() {
      clearTimeout(timer);
      if (!refreshSeconds) return;
      const recent = mine.some((c) => c.state === 'awaiting' && Date.now() - c.at < 12e4);
      timer = setTimeout(tick, (recent ? Math.min(5, refreshSeconds) : refreshSeconds) * 1000);
    }
    async function tick() {
      if (document.visibilityState === 'visible') {
        await checkMine();
        await load(state.pages, true);
      }
      schedule();
    }
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') tick();
    });

    render();
    Promise.all([load(1), checkMine()]).then(reveal).then(schedule);
  }

  forgetOld();
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
