'use strict';
// The annotation page: every interaction is a small JSON call answered from the cached embedding.
(() => {
  const $ = (id) => document.getElementById(id);
  const stage = $('stage'), imageLayer = $('image-layer'), annLayer = $('ann-layer'), maskLayer = $('mask-layer'), uiLayer = $('ui-layer');
  const proposalLayer = $('proposal-layer');
  const COLORS = [[230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48], [145, 30, 180], [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212]];

  const state = {
    images: [], current: null, width: 0, height: 0, info: null,
    prompt: { points: [], labels: [], box: null },
    undo: [], redo: [],
    decode: null, selected: 0, seq: 0, drawnSeq: 0,
    annotations: [], selectedAnnotation: null, showAnnotations: true,
    drag: null, hoverBusy: false, hoverPending: null,
    proposals: null, focusedProposal: 0, everythingBusy: false,
  };

  async function api(method, url, body) {
    const res = await fetch(url, { method, headers: body ? { 'Content-Type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
    const text = await res.text();
    const data = text ? JSON.parse(text) : null;
    if (!res.ok) throw new Error((data && data.error) || `${res.status} ${res.statusText}`);
    return data;
  }

  function status(msg, isError) {
    $('status').textContent = msg;
    $('status').style.color = isError ? '#b00' : '';
  }

  // ---- image list -------------------------------------------------------------------------------
  async function loadImages() {
    state.images = await api('GET', 'api/images');
    const list = $('image-list');
    list.innerHTML = '';
    for (const img of state.images) {
      const li = document.createElement('li');
      li.dataset.id = img.id;
      li.innerHTML = `<img loading="lazy" alt=""><div><div class="name"></div><div class="meta"><span class="dot"></span><span class="count"></span></div></div>`;
      li.querySelector('img').src = `api/images/${img.id}/file`;
      li.querySelector('.name').textContent = img.fileName;
      updateListItem(li, img);
      li.addEventListener('click', () => openImage(img.id));
      list.appendChild(li);
    }
  }

  function updateListItem(li, img) {
    li.querySelector('.dot').classList.toggle('embedded', !!img.embedded);
    li.querySelector('.count').textContent = `${img.annotations} annotation${img.annotations === 1 ? '' : 's'}`;
    li.classList.toggle('active', state.current && state.current.id === img.id);
  }

  async function refreshImageStatus(id) {
    const img = await api('GET', `api/images/${id}`);
    const li = document.querySelector(`#image-list li[data-id="${id}"]`);
    if (li) updateListItem(li, img);
  }

  async function openImage(id) {
    const img = state.images.find((i) => i.id === id);
    if (!img) return;
    state.current = img;
    document.querySelectorAll('#image-list li').forEach((li) => li.classList.toggle('active', +li.dataset.id === id));
    $('image-title').textContent = img.fileName;
    resetPrompt(true);
    setProposals(null);
    stage.dataset.state = 'loading';
    $('busy').hidden = false;
    const picture = new Image();
    picture.src = `api/images/${id}/file`;
    const stopProgress = encoderProgress();
    try {
      await picture.decode();
      layout(picture.naturalWidth, picture.naturalHeight);
      imageLayer.getContext('2d').drawImage(picture, 0, 0);
      const t0 = performance.now();
      const e = await api('POST', `api/images/${id}/embed`).finally(stopProgress);
      if (state.current !== img) return;
      status(`${img.fileName}: ${e.width}x${e.height}, embedding from ${e.source} in ${Math.round(performance.now() - t0)} ms. Click to segment.`);
      await loadAnnotations();
      stage.dataset.state = 'ready';
      refreshImageStatus(id);
    } catch (err) {
      stage.dataset.state = 'error';
      status(`Cannot open ${img.fileName}: ${err.message}`, true);
    } finally {
      if (state.current === img) $('busy').hidden = true;
    }
  }

  // While an image is being opened: the encoder's elapsed time against the last run's duration (an
  // estimate, the encoder reports no finer progress) and how many encodes wait ahead.
  function encoderProgress() {
    const bar = $('busy-progress'), text = $('busy-text');
    let stopped = false;
    const timer = setInterval(async () => {
      try {
        const s = await api('GET', 'api/encoder');
        if (stopped || !s.busy) return;
        const secs = (s.elapsedMs / 1000).toFixed(1);
        if (s.estimatedMs) {
          bar.hidden = false; bar.max = s.estimatedMs; bar.value = Math.min(s.elapsedMs, 0.97 * s.estimatedMs);
          text.textContent = `Encoding image… ${secs} s of ~${(s.estimatedMs / 1000).toFixed(1)} s`;
        } else text.textContent = `Encoding image… ${secs} s`;
        if (s.background) text.textContent += ' (finishing a background encode first)';
      } catch { /* progress is cosmetic */ }
    }, 250);
    return () => {
      stopped = true;
      clearInterval(timer);
      bar.hidden = true;
      text.textContent = 'Encoding image…';
    };
  }

  // The canvases hold the image at full resolution; CSS scales them down to fit, never up.
  function layout(w, h) {
    state.width = w; state.height = h;
    const avail = Math.max(200, $('stage-wrap').clientWidth - 16);
    const scale = Math.min(1, avail / w);
    for (const c of [imageLayer, annLayer, proposalLayer, maskLayer, uiLayer]) {
      c.width = w; c.height = h;
      c.style.width = `${Math.round(w * scale)}px`;
      c.style.height = `${Math.round(h * scale)}px`;
    }
  }

  // ---- prompts ----------------------------------------------------------------------------------
  function snapshot() { return JSON.parse(JSON.stringify(state.prompt)); }

  function pushPrompt(change) {
    state.undo.push(snapshot());
    state.redo = [];
    change(state.prompt);
    promptChanged();
  }

  function resetPrompt(clearHistory) {
    state.prompt = { points: [], labels: [], box: null };
    if (clearHistory) { state.undo = []; state.redo = []; }
    state.decode = null;
    state.seq++;
    clearMask();
    drawPrompt();
    renderCandidates();
  }

  function undo() {
    if (!state.undo.length) return;
    state.redo.push(snapshot());
    state.prompt = state.undo.pop();
    promptChanged();
  }

  function redo() {
    if (!state.redo.length) return;
    state.undo.push(snapshot());
    state.prompt = state.redo.pop();
    promptChanged();
  }

  function hasPrompt(p) { return p.points.length > 0 || p.box !== null; }

  function promptChanged() {
    drawPrompt();
    if (!hasPrompt(state.prompt)) { state.decode = null; state.seq++; clearMask(); renderCandidates(); return; }
    decode(state.prompt, false);
  }

  async function decode(prompt, hover) {
    if (!state.current || stage.dataset.state !== 'ready') return;
    const seq = ++state.seq;
    const single = prompt.points.length === 1 && !prompt.box;
    const body = { points: prompt.points, labels: prompt.labels, box: prompt.box, multimask: single };
    // Refining: the previous low-res logits go back in as the mask input (SAM only).
    if (!hover && state.decode && state.info && state.info.acceptsMaskInput && prompt.points.length > 1)
      body.maskInput = { decodeId: state.decode.decodeId, index: state.selected };
    try {
      const t0 = performance.now();
      const result = await api('POST', `api/images/${state.current.id}/decode`, body);
      if (seq !== state.seq) return; // a newer prompt has been sent meanwhile
      if (hover) { drawMask(result.masks[result.best], 0.3); return; }
      state.decode = result;
      state.selected = result.best;
      drawMask(result.masks[state.selected], 0.5);
      renderCandidates();
      status(`decode ${result.ms} ms on the server, ${Math.round(performance.now() - t0)} ms round trip`);
      stage.dataset.decodes = String(+stage.dataset.decodes + 1);
    } catch (err) {
      if (seq === state.seq) status(err.message, true);
    }
  }

  function renderCandidates() {
    const box = $('candidates');
    box.innerHTML = '';
    $('accept').disabled = !state.decode;
    if (!state.decode) return;
    state.decode.masks.forEach((m, i) => {
      const b = document.createElement('button');
      b.textContent = `${i + 1}: ${m.score.toFixed(3)}`;
      b.title = `area ${m.area} px`;
      b.classList.toggle('selected', i === state.selected);
      b.addEventListener('click', () => selectCandidate(i));
      box.appendChild(b);
    });
  }

  function selectCandidate(i) {
    if (!state.decode || i >= state.decode.masks.length) return;
    state.selected = i;
    drawMask(state.decode.masks[i], 0.5);
    renderCandidates();
  }

  // ---- drawing ----------------------------------------------------------------------------------
  // COCO RLE: runs over the column-major mask, zeros first.
  function rleToImageData(ctx, rle, rgb, alpha) {
    const [h, w] = rle.size;
    const data = ctx.createImageData(w, h);
    const px = data.data;
    let k = 0, on = false;
    for (const run of rle.counts) {
      if (on) {
        for (let j = k; j < k + run; j++) {
          const o = ((j % h) * w + Math.floor(j / h)) * 4;
          px[o] = rgb[0]; px[o + 1] = rgb[1]; px[o + 2] = rgb[2]; px[o + 3] = alpha;
        }
      }
      k += run; on = !on;
    }
    return data;
  }

  function clearMask() { maskLayer.getContext('2d').clearRect(0, 0, maskLayer.width, maskLayer.height); }

  function drawMask(mask, opacity) {
    const ctx = maskLayer.getContext('2d');
    ctx.putImageData(rleToImageData(ctx, mask.rle, [30, 144, 255], Math.round(255 * opacity)), 0, 0);
  }

  function drawAnnotations() {
    const ctx = annLayer.getContext('2d');
    ctx.clearRect(0, 0, annLayer.width, annLayer.height);
    if (!state.showAnnotations) return;
    const tmp = document.createElement('canvas');
    tmp.width = annLayer.width; tmp.height = annLayer.height;
    const tctx = tmp.getContext('2d');
    for (const a of state.annotations) {
      const selected = state.selectedAnnotation === a.id;
      tctx.putImageData(rleToImageData(tctx, a.rle, COLORS[a.categoryId % COLORS.length], selected ? 170 : 100), 0, 0);
      ctx.drawImage(tmp, 0, 0);
    }
  }

  function drawPrompt(dragBox) {
    const ctx = uiLayer.getContext('2d');
    ctx.clearRect(0, 0, uiLayer.width, uiLayer.height);
    const r = Math.max(4, state.width / 120);
    const box = dragBox || state.prompt.box;
    if (box) {
      ctx.strokeStyle = '#1e90ff'; ctx.lineWidth = Math.max(2, r / 2);
      ctx.strokeRect(box[0], box[1], box[2] - box[0], box[3] - box[1]);
    }
    state.prompt.points.forEach(([x, y], i) => {
      ctx.beginPath(); ctx.arc(x, y, r, 0, 2 * Math.PI);
      ctx.fillStyle = state.prompt.labels[i] === 1 ? '#2ecc40' : '#ff4136';
      ctx.fill(); ctx.strokeStyle = '#fff'; ctx.lineWidth = 1.5; ctx.stroke();
    });
  }

  // ---- annotations ------------------------------------------------------------------------------
  async function loadAnnotations() {
    if (!state.current) return;
    state.annotations = await api('GET', `api/images/${state.current.id}/annotations`);
    const list = $('annotation-list');
    list.innerHTML = '';
    for (const a of state.annotations) {
      const li = document.createElement('li');
      li.dataset.id = a.id;
      const [r, g, b] = COLORS[a.categoryId % COLORS.length];
      li.innerHTML = `<span class="swatch"></span><span class="label"></span><button class="recat" title="Give it the category in the box (R)">✎</button><button class="del" title="Delete">✕</button>`;
      li.querySelector('.swatch').style.background = `rgb(${r},${g},${b})`;
      li.querySelector('.label').textContent = `#${a.id} ${a.category} (${a.area} px, IoU ${a.predictedIou == null ? '–' : a.predictedIou.toFixed(3)})`;
      li.classList.toggle('selected', state.selectedAnnotation === a.id);
      li.addEventListener('click', () => { state.selectedAnnotation = a.id; loadAnnotations(); });
      li.querySelector('.del').addEventListener('click', (e) => { e.stopPropagation(); deleteAnnotation(a.id); });
      li.querySelector('.recat').addEventListener('click', (e) => { e.stopPropagation(); recategorize(a.id); });
      list.appendChild(li);
    }
    drawAnnotations();
    const cats = await api('GET', 'api/categories');
    $('category-list').innerHTML = cats.map((c) => `<option></option>`).join('');
    $('category-list').querySelectorAll('option').forEach((o, i) => { o.value = cats[i].name; });
  }

  async function accept() {
    if (!state.decode || !state.current) return;
    const category = $('category').value.trim();
    if (!category) { status('Type a category first.', true); $('category').focus(); return; }
    try {
      const a = await api('POST', `api/images/${state.current.id}/annotations`, { category, decodeId: state.decode.decodeId, index: state.selected });
      status(`Accepted annotation #${a.id} (${a.category}, ${a.area} px).`);
      stage.dataset.accepted = String(a.id);
      resetPrompt(true);
      await loadAnnotations();
      refreshImageStatus(state.current.id);
    } catch (err) { status(err.message, true); }
  }

  async function deleteAnnotation(id) {
    if (id == null) return;
    try {
      await api('DELETE', `api/annotations/${id}`);
      if (state.selectedAnnotation === id) state.selectedAnnotation = null;
      status(`Deleted annotation #${id}.`);
      await loadAnnotations();
      refreshImageStatus(state.current.id);
    } catch (err) { status(err.message, true); }
  }

  async function recategorize(id) {
    if (id == null) { status('Select an annotation first.', true); return; }
    const category = $('category').value.trim();
    if (!category) { status('Type a category first.', true); $('category').focus(); return; }
    try {
      const a = await api('PATCH', `api/annotations/${id}`, { category });
      status(`Annotation #${a.id} is now ${a.category}.`);
      await loadAnnotations();
    } catch (err) { status(err.message, true); }
  }

  // ---- segment everything: proposals the user accepts or rejects ---------------------------------
  function everythingOptions() {
    const num = (id) => { const v = $(id).value.trim(); return v === '' ? undefined : Number(v); };
    return { pointsPerSide: num('opt-points'), predIouThresh: num('opt-iou'), stabilityScoreThresh: num('opt-stability'), minMaskRegionArea: num('opt-min-area') };
  }

  async function segmentEverything() {
    if (!state.current || stage.dataset.state !== 'ready' || state.everythingBusy) return;
    const img = state.current;
    state.everythingBusy = true;
    $('everything').disabled = true;
    $('busy-text').textContent = 'Segmenting everything…';
    $('busy').hidden = false;
    const bar = $('busy-progress');
    bar.hidden = false; bar.removeAttribute('value');
    const poll = setInterval(async () => {
      try {
        const p = await api('GET', `api/images/${img.id}/everything/progress`);
        if (p.running && p.total > 0) { bar.max = p.total; bar.value = p.done; }
      } catch { /* progress is cosmetic */ }
    }, 250);
    try {
      const t0 = performance.now();
      const r = await api('POST', `api/images/${img.id}/everything`, everythingOptions());
      if (state.current !== img) return;
      setProposals(r);
      status(`Segment everything: ${r.count} proposal${r.count === 1 ? '' : 's'} in ${Math.round(performance.now() - t0)} ms. Y/X accept/reject, Shift+Y accept all.`);
    } catch (err) { status(err.message, true); }
    finally {
      clearInterval(poll);
      state.everythingBusy = false;
      $('everything').disabled = false;
      bar.hidden = true;
      $('busy-text').textContent = 'Encoding image…';
      if (state.current === img) $('busy').hidden = true;
    }
  }

  // r: the API's answer; its proposals are dropped from the list as they are accepted or rejected.
  function setProposals(r) {
    state.proposals = r ? { id: r.proposalsId, items: r.proposals.slice() } : null;
    state.focusedProposal = 0;
    renderProposals();
  }

  function renderProposals() {
    const p = state.proposals;
    const open = !!(p && p.items.length);
    $('proposals-panel').hidden = !open;
    stage.dataset.proposals = String(p ? p.items.length : 0);
    const list = $('proposal-list');
    list.innerHTML = '';
    if (!open) { proposalLayer.getContext('2d').clearRect(0, 0, proposalLayer.width, proposalLayer.height); return; }
    state.focusedProposal = Math.min(state.focusedProposal, p.items.length - 1);
    $('proposal-count').textContent = `(${p.items.length})`;
    p.items.forEach((m, i) => {
      const li = document.createElement('li');
      li.innerHTML = `<span class="label"></span><button class="yes" title="Accept (Y)">✓</button><button class="no" title="Reject (X)">✕</button>`;
      li.querySelector('.label').textContent = `${m.area} px, IoU ${m.predictedIou.toFixed(3)}, stability ${m.stabilityScore.toFixed(3)}`;
      li.classList.toggle('focused', i === state.focusedProposal);
      li.addEventListener('click', () => { state.focusedProposal = i; renderProposals(); });
      li.querySelector('.yes').addEventListener('click', (e) => { e.stopPropagation(); acceptProposals([m.index]); });
      li.querySelector('.no').addEventListener('click', (e) => { e.stopPropagation(); rejectProposals([m.index]); });
      list.appendChild(li);
    });
    drawProposals();
  }

  function drawProposals() {
    const ctx = proposalLayer.getContext('2d');
    ctx.clearRect(0, 0, proposalLayer.width, proposalLayer.height);
    const p = state.proposals;
    if (!p || !p.items.length) return;
    const tmp = document.createElement('canvas');
    tmp.width = proposalLayer.width; tmp.height = proposalLayer.height;
    const tctx = tmp.getContext('2d');
    p.items.forEach((m, i) => {
      const focused = i === state.focusedProposal;
      tctx.putImageData(rleToImageData(tctx, m.rle, focused ? [255, 140, 0] : COLORS[m.index % COLORS.length], focused ? 160 : 70), 0, 0);
      ctx.drawImage(tmp, 0, 0);
    });
    const f = p.items[state.focusedProposal];
    ctx.strokeStyle = '#ff8c00'; ctx.lineWidth = Math.max(2, state.width / 300);
    ctx.strokeRect(f.bbox[0], f.bbox[1], f.bbox[2], f.bbox[3]);
  }

  function focusProposal(delta) {
    const p = state.proposals;
    if (!p || !p.items.length) return;
    state.focusedProposal = (state.focusedProposal + delta + p.items.length) % p.items.length;
    renderProposals();
  }

  async function acceptProposals(indices) {
    const p = state.proposals;
    if (!p || !p.items.length || !state.current) return;
    const category = $('category').value.trim();
    if (!category) { status('Type a category first.', true); $('category').focus(); return; }
    try {
      // "All" means all still listed: rejected proposals stay rejected.
      const chosen = indices || p.items.map((m) => m.index);
      const stored = await api('POST', `api/images/${state.current.id}/everything/${p.id}/accept`, { category, indices: chosen });
      const taken = new Set(chosen);
      p.items = p.items.filter((m) => !taken.has(m.index));
      status(`Accepted ${stored.length} proposal${stored.length === 1 ? '' : 's'} as ${category}.`);
      stage.dataset.accepted = String(stored.at(-1).id);
      renderProposals();
      await loadAnnotations();
      refreshImageStatus(state.current.id);
    } catch (err) { status(err.message, true); }
  }

  function rejectProposals(indices) {
    const p = state.proposals;
    if (!p) return;
    const drop = new Set(indices || p.items.map((m) => m.index));
    p.items = p.items.filter((m) => !drop.has(m.index));
    renderProposals();
  }

  function focusedIndex() {
    const p = state.proposals;
    return p && p.items.length ? [p.items[state.focusedProposal].index] : null;
  }

  // ---- mouse ------------------------------------------------------------------------------------
  function toImage(e) {
    const rect = uiLayer.getBoundingClientRect();
    const x = Math.round((e.clientX - rect.left) * state.width / rect.width);
    const y = Math.round((e.clientY - rect.top) * state.height / rect.height);
    return [Math.min(Math.max(x, 0), state.width), Math.min(Math.max(y, 0), state.height)];
  }

  uiLayer.addEventListener('contextmenu', (e) => e.preventDefault());
  uiLayer.addEventListener('mousedown', (e) => {
    if (stage.dataset.state !== 'ready') return;
    state.drag = { start: toImage(e), button: e.button, shift: e.shiftKey, moved: false };
  });
  uiLayer.addEventListener('mousemove', (e) => {
    if (stage.dataset.state !== 'ready') return;
    const p = toImage(e);
    if (state.drag) {
      const [x0, y0] = state.drag.start;
      if (Math.abs(p[0] - x0) + Math.abs(p[1] - y0) > 4 * state.width / uiLayer.getBoundingClientRect().width) state.drag.moved = true;
      if (state.drag.moved) drawPrompt([Math.min(x0, p[0]), Math.min(y0, p[1]), Math.max(x0, p[0]), Math.max(y0, p[1])]);
      return;
    }
    if (!hasPrompt(state.prompt)) hover(p);
  });
  uiLayer.addEventListener('mouseleave', () => { if (!hasPrompt(state.prompt)) { state.seq++; clearMask(); } });
  window.addEventListener('mouseup', (e) => {
    const d = state.drag;
    state.drag = null;
    if (!d || stage.dataset.state !== 'ready') return;
    const p = toImage(e);
    if (d.moved) {
      const [x0, y0] = d.start;
      pushPrompt((pr) => { pr.box = [Math.min(x0, p[0]), Math.min(y0, p[1]), Math.max(x0, p[0]), Math.max(y0, p[1])]; });
    } else if (e.target === uiLayer) {
      const label = d.button === 2 || d.shift ? 0 : 1;
      pushPrompt((pr) => { pr.points.push(d.start); pr.labels.push(label); });
    }
  });

  // Hover preview: at most one decode in flight; the latest position wins.
  function hover(p) {
    state.hoverPending = p;
    if (state.hoverBusy) return;
    state.hoverBusy = true;
    const next = state.hoverPending;
    state.hoverPending = null;
    decode({ points: [next], labels: [1], box: null }, true).finally(() => {
      state.hoverBusy = false;
      if (state.hoverPending && !hasPrompt(state.prompt)) hover(state.hoverPending);
    });
  }

  // ---- keyboard ---------------------------------------------------------------------------------
  function move(delta) {
    if (!state.images.length) return;
    const i = state.current ? state.images.findIndex((x) => x.id === state.current.id) : -1;
    const j = Math.min(Math.max(i + delta, 0), state.images.length - 1);
    if (j !== i) openImage(state.images[j].id);
  }

  document.addEventListener('keydown', (e) => {
    if (!$('help').hidden) { $('help').hidden = true; e.preventDefault(); return; }
    const typing = e.target instanceof HTMLInputElement;
    if (typing) {
      if (e.key === 'Enter') { e.preventDefault(); if (e.target.id.startsWith('opt-')) segmentEverything(); else accept(); }
      if (e.key === 'Escape') e.target.blur();
      return;
    }
    const k = e.key.toLowerCase();
    if ((e.ctrlKey || e.metaKey) && k === 'z') { e.preventDefault(); if (e.shiftKey) redo(); else undo(); return; }
    if ((e.ctrlKey || e.metaKey) && k === 'y') { e.preventDefault(); redo(); return; }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (k === 'enter' || k === 'a') accept();
    else if (k === 'escape') resetPrompt(false);
    else if (k === '1' || k === '2' || k === '3') selectCandidate(+k - 1);
    else if (k === 'delete' || k === 'backspace') deleteAnnotation(state.selectedAnnotation ?? (state.annotations.at(-1) || {}).id);
    else if (k === 'h') toggleAnnotations();
    else if (k === 'e') segmentEverything();
    else if (k === 'j') focusProposal(1);
    else if (k === 'k') focusProposal(-1);
    else if (k === 'y' && e.shiftKey) acceptProposals(null);
    else if (k === 'x' && e.shiftKey) rejectProposals(null);
    else if (k === 'y') { const i = focusedIndex(); if (i) acceptProposals(i); }
    else if (k === 'x') { const i = focusedIndex(); if (i) rejectProposals(i); }
    else if (k === 'r') recategorize(state.selectedAnnotation);
    else if (k === 'n' || k === 'arrowright') move(1);
    else if (k === 'p' || k === 'arrowleft') move(-1);
    else if (k === 'c') { e.preventDefault(); $('category').focus(); $('category').select(); }
    else if (k === '?') $('help').hidden = false;
    else return;
    e.preventDefault();
  });

  function toggleAnnotations() {
    state.showAnnotations = !state.showAnnotations;
    $('toggle').textContent = state.showAnnotations ? 'Hide' : 'Show';
    drawAnnotations();
  }

  $('accept').addEventListener('click', accept);
  $('undo').addEventListener('click', undo);
  $('redo').addEventListener('click', redo);
  $('clear').addEventListener('click', () => resetPrompt(false));
  $('toggle').addEventListener('click', toggleAnnotations);
  $('everything').addEventListener('click', segmentEverything);
  $('accept-all').addEventListener('click', () => acceptProposals(null));
  $('reject-all').addEventListener('click', () => rejectProposals(null));
  $('help-button').addEventListener('click', () => { $('help').hidden = false; });
  $('help').addEventListener('click', () => { $('help').hidden = true; });

  (async () => {
    try {
      state.info = await api('GET', 'api/info');
      $('model-name').textContent = `${state.info.model} · ${state.info.family}`;
      if (!state.info.segmentEverything) {
        $('everything').disabled = true;
        $('everything').title = 'Segment everything needs the automatic mask generator (not in this build yet)';
      }
      await loadImages();
      if (state.images.length) status('Choose an image. Press ? for shortcuts.');
      else status('No images in the folder.', true);
    } catch (err) { status(err.message, true); }
  })();
})();
