/* gemini_np explorer: attention forward and backward, step by step, in the browser.
 *
 * The math (first section) is gemini_np/reference.py written again in JavaScript:
 * float64 numbers, one formula per line, the same names. Matrices are arrays of
 * rows, like NumPy's 2-D arrays. The tests hold every number to gemini_np's within
 * 1e-12 through the scripting hook at the end (window.gnpExplorer).
 *
 * The rest draws the page: the step-through, the image and fusion views (their
 * numbers were computed by NumPy when the page was written, and are embedded in
 * the page as JSON), and the online-softmax replay. No library, no network.
 */
(function () {
  "use strict";

  // ===================================================================== the math (float64)

  function zeros(n, m) {
    return Array.from({ length: n }, () => new Array(m).fill(0));
  }

  function transpose(A) { // Aᵀ
    return A[0].map((_, j) => A.map((row) => row[j]));
  }

  function matmul(A, B) { // A B: (n, k) @ (k, m) -> (n, m)
    const C = zeros(A.length, B[0].length);
    for (let i = 0; i < A.length; i++) {
      for (let j = 0; j < B[0].length; j++) {
        let sum = 0;
        for (let t = 0; t < B.length; t++) sum += A[i][t] * B[t][j];
        C[i][j] = sum;
      }
    }
    return C;
  }

  function times(A, s) { // s · A
    return A.map((row) => row.map((x) => x * s));
  }

  function rowsum(A) { // Σ_j A_ij, one number per row
    return A.map((row) => row.reduce((a, b) => a + b, 0));
  }

  function hadamard(A, B) { // A ∘ B, element by element
    return A.map((row, i) => row.map((x, j) => x * B[i][j]));
  }

  function applyMask(S, mask) {
    // False = may not attend: the logit becomes −∞, so exp(−∞) = 0, a weight of exactly 0
    return S.map((row, i) => row.map((x, j) => (mask[i][j] ? x : -Infinity)));
  }

  function softmaxRow(s) {
    // one query row s (n_k,) -> the steps of softmax, kept for the page to show them
    let m = Math.max(...s);                     // m = max_j s_j
    if (m === -Infinity) m = 0;                 // masked row (all −∞): shift by 0, as −∞ − (−∞) = NaN
    const e = s.map((x) => Math.exp(x - m));    // e_j = exp(s_j − m)
    let total = e.reduce((a, b) => a + b, 0);   // Σ_j e_j
    if (total === 0) total = 1;                 // ... and divide its zeros by 1: they stay 0
    const p = e.map((x) => x / total);          // p_j = e_j / Σ_j e_j
    return { m, e, total, p };
  }

  function attentionForward(q, k, v, mask, scale) {
    // q (n_q, d_k), k (n_k, d_k), v (n_k, d_v), mask (n_q, n_k) booleans, scale a number
    const QK = matmul(q, transpose(k));          // Q Kᵀ                    (n_q, n_k)
    const S0 = times(QK, scale);                 // S = Q Kᵀ · scale
    const S = applyMask(S0, mask);               // S = S + mask            (−∞ where masked)
    const rows = S.map(softmaxRow);              // softmax, row by row
    const P = rows.map((r) => r.p);              // P = softmax(S)          each row sums to 1
    const out = matmul(P, v);                    // O = P V                 (n_q, d_v)
    return { q, k, v, mask, scale, QK, S, rows, P, out };
  }

  function attentionBackward(dout, f) {
    // dout (n_q, d_v) = dL/dO; f: what attentionForward returned
    const dv = matmul(transpose(f.P), dout);                   // dV = Pᵀ dO
    const dP = matmul(dout, transpose(f.v));                   // dP = dO Vᵀ
    const r = rowsum(hadamard(dout, f.out));                   // r = rowsum(dO ∘ O)  (= rowsum(dP ∘ P))
    const dS = f.P.map((row, i) => row.map((p, j) => p * (dP[i][j] - r[i]))); // dS = P ∘ (dP − r)
    const dq = times(matmul(dS, f.k), f.scale);                // dQ = scale · dS K
    const dk = times(matmul(transpose(dS), f.q), f.scale);     // dK = scale · dSᵀ Q
    return { dout, dv, dP, r, dS, dq, dk };
  }

  function onlineSoftmax(s, v, b) {
    // One query row s (n_k,) of scaled, masked logits and the values v (n_k, d_v), keys
    // visited b at a time (gemini_np/functional/blocked.py). Returns the state after each block.
    let m = -Infinity;                                       // the largest logit so far
    let l = 0;                                               // Σ_j exp(s_j − m) so far
    let acc = new Array(v[0].length).fill(0);                // Σ_j exp(s_j − m) v_j so far
    const trace = [{ block: 0, keys: [], m, l, acc }];
    for (let start = 0; start < s.length; start += b) {
      const keys = [];
      for (let j = start; j < Math.min(start + b, s.length); j++) keys.push(j);
      const sb = keys.map((j) => s[j]);                      // S_b, this block's logits
      const mNew = Math.max(m, ...sb);                       // m_new = max(m, rowmax(S_b))
      const shift = mNew === -Infinity ? 0 : mNew;           // every key so far masked: shift by 0
      const pb = sb.map((x) => Math.exp(x - shift));         // P̃_b = exp(S_b − m_new)
      const alpha = Math.exp(m - shift);                     // α = exp(m − m_new) rescales the old sums
      l = alpha * l + pb.reduce((a, x) => a + x, 0);         // l = α l + rowsum(P̃_b)
      acc = acc.map((a, c) => alpha * a + keys.reduce((t, j, n) => t + pb[n] * v[j][c], 0)); // acc = α acc + P̃_b V_b
      m = mNew;                                              // m = m_new
      trace.push({ block: trace.length, keys, sb, mNew, alpha, pb, m, l, acc });
    }
    const lSafe = l === 0 ? 1 : l;                           // fully masked row: 0 / 1 = 0
    const out = acc.map((a) => a / lSafe);                   // O = acc / l
    const mFinal = m === -Infinity ? 0 : m;
    const weights = s.map((x) => Math.exp(x - mFinal) / lSafe); // P_j = exp(s_j − m) / l
    return { trace, out, weights };
  }

  // ===================================================================== the page's state

  const DATA = JSON.parse(document.getElementById("gnp-data").textContent);
  const COLORS = DATA.colormaps; // {seq: viridis, div: RdBu_r}, as hex stops from matplotlib

  const state = {
    lang: document.body.dataset.lang === "en" ? "en" : "zh",
    view: "steps",
    step: 0,
    present: false,
    preset: 0,          // index into DATA.presets, or -1 for inputs that were edited or set()
    q: null, k: null, v: null, dout: null, mask: null, scale: null,
    queries: null, keys: null, // labels {zh: [...], en: [...]}
    f: null, b: null,   // the forward and backward results for the current inputs
    example: 0,
    imageSource: "pixel",
    pixel: null,        // [row, col] of the image view's pixel
    head: "mean",
    token: 0,
    patch: null,
    onlineRow: 0,
    onlineRowChosen: false, // until a row is clicked, show one whose maximum moves (so α < 1 appears)
    onlineBlock: 2,
    onlineStep: 0,
  };

  function copy(M) { return M.map((row) => row.slice()); }
  function dK() { return state.q[0].length; }
  function defaultScale() { return 1 / Math.sqrt(dK()); }

  function loadPreset(i) {
    const p = DATA.presets[i];
    state.preset = i;
    state.q = copy(p.inputs.q); state.k = copy(p.inputs.k);
    state.v = copy(p.inputs.v); state.dout = copy(p.inputs.dout);
    state.mask = state.q.map(() => state.k.map(() => true));
    state.scale = defaultScale();
    state.queries = p.queries; state.keys = p.keys;
    recompute();
  }

  function recompute() {
    state.f = attentionForward(state.q, state.k, state.v, state.mask, state.scale);
    state.b = attentionBackward(state.dout, state.f);
    state.step = Math.min(state.step, steps().length - 1);
    state.onlineBlock = Math.min(state.onlineBlock, state.k.length);
    if (!state.onlineRowChosen) state.onlineRow = rowWithRescale();
    state.onlineRow = Math.min(state.onlineRow, state.q.length - 1);
  }

  function edited() { // inputs no longer those of a preset
    state.preset = -1;
  }

  function fullyMaskedRows() {
    return state.mask.map((row, i) => (row.some((x) => x) ? -1 : i)).filter((i) => i >= 0);
  }

  // ===================================================================== words in two languages

  const WORDS = {
    app_title: ["注意力课堂", "Attention, step by step"],
    tab_steps: ["逐步计算", "Step through"],
    tab_image: ["图像小块", "Image patches"],
    tab_fusion: ["跨模态融合", "Fusion"],
    tab_online: ["在线 softmax", "Online softmax"],
    present_on: ["演示模式", "Presentation"],
    present_off: ["退出演示", "Exit presentation"],
    example: ["例子", "Example"],
    preset_article: ["文章的例子：猫 / 喜欢 / 吃鱼", "The article's example: cat / like / eat-fish"],
    preset_random: ["随机例子（4 个查询，6 个键）", "Random (4 queries, 6 keys)"],
    preset_custom: ["已修改的输入", "Edited inputs"],
    temperature: ["温度", "Temperature"],
    mask_keys: ["可关注的键", "Keys that may be attended"],
    mask_toggle_title: ["点击：屏蔽或恢复这个键（对所有查询）", "Click: mask or unmask this key (for every query)"],
    prev: ["上一步", "Previous"],
    next: ["下一步", "Next"],
    prev_block: ["上一块", "Previous block"],
    next_block: ["下一块", "Next block"],
    reads: ["虚线：读取", "dashed: reads"],
    writes: ["实线：写入", "solid: writes"],
    edit_hint: ["点击 Q、K、V、dO 的格子可修改；点击 S 的格子可屏蔽", "Click a cell of Q, K, V or dO to edit it; a cell of S to mask it"],
    forward: ["前向", "Forward"],
    backward: ["反向", "Backward"],
    step_of: ["第 {i} / {n} 步", "Step {i} of {n}"],
    role_read: ["读取", "reads"],
    role_write: ["写入", "writes"],
    m_queries: ["查询", "queries"],
    m_keys: ["键", "keys"],
    m_values: ["值", "values"],
    m_products: ["点积", "dot products"],
    m_scores: ["得分", "scores"],
    m_weights: ["权重", "weights"],
    m_output: ["输出", "output"],
    m_grad: ["梯度", "gradient"],
    m_rowterm: ["行和项", "row-sum term"],
    scale_word: ["缩放", "scale"],
    // steps: titles and explanations
    s_inputs: ["输入：Q、K、V", "Inputs: Q, K, V"],
    s_inputs_text: ["查询 Q、键 K、值 V。点击任意格子可以修改数值，整页会立即重新计算。",
      "Queries Q, keys K, values V. Click any cell to change it: the whole page recomputes at once."],
    s_inputs_article: ["文章的例子：三个词的独热向量 h（3×5）。文章没有投影矩阵（W = I），所以 Q = K = V = H。点击格子可以修改。",
      "The article's example: one-hot vectors h of three words (3×5). The article has no projection matrices (W = I), so Q = K = V = H. Click a cell to change it."],
    s_qk: ["相似度：每个查询对每个键", "Similarities: every query against every key"],
    s_qk_text: ["每个查询和每个键做点积：(Q Kᵀ)ᵢⱼ = qᵢ · kⱼ，表示查询 i 和键 j 有多匹配。",
      "Every query is dotted with every key: (Q Kᵀ)ᵢⱼ = qᵢ · kⱼ, how well query i matches key j."],
    s_qk_article: ["每个查询和每个键做点积。独热向量两两正交，所以这里得到单位矩阵。",
      "Every query is dotted with every key. One-hot vectors are orthogonal, so this is the identity matrix."],
    s_scale: ["缩放和掩码", "Scale and mask"],
    s_scale_text: ["乘以 scale = 1/(T·√d_k)：除以 √d_k 让点积不随维度变大，温度 T 越小分布越尖。被屏蔽的键得分为 −∞，softmax 之后权重正好是 0。",
      "Multiply by scale = 1/(T·√d_k): dividing by √d_k keeps the dot products' size independent of the dimension d_k; a smaller temperature T sharpens the weights. A masked key scores −∞, so its weight after softmax is exactly 0."],
    s_row: ["第 {row} 行的 softmax（{token}）", "Softmax of row {row} ({token})"],
    s_row_text: ["先减去这一行的最大值 m（结果不变，但 exp 不会溢出），再取 exp，再除以总和：这一行的权重都在 [0, 1] 之间，和为 1。",
      "Subtract the row's maximum m (the result is the same, but exp cannot overflow), take exp, divide by the sum: the row's weights lie in [0, 1] and add up to 1."],
    s_p: ["注意力矩阵 P", "The attention matrix P"],
    s_p_text: ["每一行是一个查询在所有键上的权重：都在 [0, 1] 之间，每行之和为 1（最右一列）。",
      "Each row holds one query's weights over all keys: each in [0, 1], every row summing to 1 (last column)."],
    s_p_article: ["文章说权重是单位矩阵：它对单个数而不是整行做 softmax。按行做 softmax 得到 [0.4388, 0.2806, 0.2806]；只有温度 T → 0 时 P 才接近单位矩阵（试试温度滑块）。",
      "The article claims the weights form the identity matrix: it normalised single numbers instead of rows. Row-wise softmax gives [0.4388, 0.2806, 0.2806]; only as the temperature T → 0 does P approach the identity (try the slider)."],
    s_o: ["输出：值的加权平均", "Output: a weighted average of the values"],
    s_o_text: ["每个输出行是值向量的加权平均，权重就是 P 的那一行。", "Each output row is an average of the value vectors, weighted by that row of P."],
    s_dout: ["反向传播的起点：输出的梯度", "The backward pass starts: the output's gradient"],
    s_dout_text: ["dO = ∂L/∂O 是损失对输出的梯度，由上面的网络层给出。点击格子可以修改。",
      "dO = ∂L/∂O, the loss's gradient with respect to the output, comes from the layers above. Click a cell to change it."],
    s_dout_article: ["dO = ∂L/∂O 由上面的层给出。这里的故事：损失希望“猫”的输出多一些“吃鱼”、“吃鱼”的输出多一些“猫”（梯度下降沿 −dO 移动，所以是负数）；“喜欢”这一行为 0。",
      "dO = ∂L/∂O comes from the layers above. The story here: the loss wants cat's output to hold more eat-fish, and eat-fish's more cat (gradient descent moves along −dO, hence the negative entries); like's row is 0."],
    s_dv: ["值的梯度", "The gradient of the values"],
    s_dv_text: ["由 O = P V：每个值向量收集所有查询的梯度，按这些查询对它的权重加权。",
      "From O = P V: each value vector collects every query's gradient, weighted by how much that query attended to it."],
    s_dp: ["权重的梯度", "The gradient of the weights"],
    s_dp_text: ["由 O = P V：dPᵢⱼ = dOᵢ · vⱼ，即把键 j 的权重调大会让损失变化多少。",
      "From O = P V: dPᵢⱼ = dOᵢ · vⱼ, how the loss changes if query i gives key j more weight."],
    s_r: ["softmax 反向的行和项 r", "Softmax's row-sum term r"],
    s_r_text: ["rᵢ = Σⱼ Pᵢⱼ dPᵢⱼ：dP 的第 i 行按权重 P 求的平均。因为 O = P V，它等于 dOᵢ · Oᵢ，只需 d_v 次乘法，不用 n_k 次。",
      "rᵢ = Σⱼ Pᵢⱼ dPᵢⱼ, the average of row i of dP weighted by P. Since O = P V it equals dOᵢ · Oᵢ: d_v products instead of n_k."],
    s_ds: ["穿过 softmax：得分的梯度", "Through the softmax: the gradient of the scores"],
    s_ds_text: ["softmax 的雅可比：dSᵢⱼ = Pᵢⱼ (dPᵢⱼ − rᵢ)。减去行和项让 dS 的每一行之和为 0（最右一列，只差舍入误差）；被屏蔽的位置 P = 0，所以没有梯度。",
      "Softmax's Jacobian: dSᵢⱼ = Pᵢⱼ (dPᵢⱼ − rᵢ). Subtracting the row-sum term makes every row of dS sum to 0 (last column, up to rounding); a masked entry has P = 0, so it gets no gradient."],
    s_dq: ["查询的梯度", "The gradient of the queries"],
    s_dq_text: ["由 S = Q Kᵀ · scale 对 Q 求导。", "From S = Q Kᵀ · scale, differentiated with respect to Q."],
    s_dk: ["键的梯度", "The gradient of the keys"],
    s_dk_text: ["由 S = Q Kᵀ · scale 对 K 求导。反向传播结束：dQ、dK、dV 就是 gemini_np.attention_backward 的三个输出。",
      "From S = Q Kᵀ · scale, with respect to K. The backward pass is done: dQ, dK, dV are the three outputs of gemini_np.attention_backward."],
    s_dk_article: ["由 S = Q Kᵀ · scale 对 K 求导。文章的例子里 Q、K、V 是同一个 H，所以 H 的梯度是 dQ + dK + dV。",
      "From S = Q Kᵀ · scale, with respect to K. In the article's example Q, K and V are the same H, so H's gradient is dQ + dK + dV."],
    masked_rows: ["{rows} 的所有键都被屏蔽：这一行 P = 0，O = 0，梯度 = 0（不是 NaN）。",
      "Every key is masked for {rows}: that row has P = 0, O = 0 and zero gradients (never NaN)."],
    numpy_same: ["与 gemini_np（NumPy）逐个数字对照：最大差 {d}", "Checked against gemini_np (NumPy), number by number: largest difference {d}"],
    numpy_edited: ["输入已修改：数字由本页的 JavaScript 按同样公式计算（测试保证与 gemini_np 相差不超过 1e−12）",
      "Inputs edited: this page's JavaScript computes the same formulas (the tests hold it to gemini_np within 1e−12)"],
    footer_offline: ["所有数字都在你的浏览器里用 float64 计算，不需要网络。", "Every number is computed in your browser, in float64; no network needed."],
    font_license: ["字体许可", "Font license"],
    // image view
    image_title: ["图像的逐块注意力", "Per-patch attention over an image"],
    image_text: ["图像被切成 p×p 的小块（网格线）。每个像素只关注自己小块里的像素。把鼠标移到一个像素上（或用方向键），看它在自己小块里的权重。",
      "The image is cut into p×p patches (the grid). Each pixel attends only to the pixels of its own patch. Hover over a pixel (or use the arrow keys) to see its weights over its patch."],
    attention_source: ["注意力来自", "Attention from"],
    source_pixel: ["Q = K = V = 像素颜色（没有参数）", "Q = K = V = pixel colours (no parameters)"],
    source_head: ["训练好的模型，第 {h} 个头", "Trained model, head {h}"],
    patch_weights: ["这个像素在自己小块里的权重", "This pixel's weights over its own patch"],
    pixel_info: ["像素（第 {r} 行，第 {c} 列），属于小块 ({i}, {j})；权重之和 = {sum}",
      "Pixel (row {r}, column {c}) in patch ({i}, {j}); its weights sum to {sum}"],
    weight_word: ["权重", "weight"],
    // fusion view
    fusion_title: ["融合层：文字和图像互相关注", "Fusion: text and image attend to each other"],
    fusion_text: ["说明文字的词和图像的小块排成一个序列，一起做注意力。左：选一个词，看它在图像各小块上的权重。右：点一个小块，看它在各个词上的权重。",
      "The caption's tokens and the image's patches form one joint sequence that attends as a whole. Left: pick a token to see its weights over the image's patches. Right: click a patch to see its weights over the tokens."],
    head: ["注意力头", "Head"],
    head_mean: ["各头平均", "mean of the heads"],
    head_n: ["第 {h} 个", "head {h}"],
    token_to_patches: ["词 → 图像小块", "Token → image patches"],
    patch_to_tokens: ["图像小块 → 词", "Image patch → tokens"],
    token_share: ["“{token}”的权重：{img} 在图像上，{txt} 在文字上", "{token}: {img} of its weight on the image, {txt} on the caption"],
    patch_share: ["小块 ({i}, {j}) 的权重：{txt} 在文字上，{img} 在图像上", "Patch ({i}, {j}): {txt} of its weight on the caption, {img} on the image"],
    model_trained: ["模型：刚刚训练（{samples} 对，{epochs} 轮，{seconds} 秒），测试准确率 {acc}（{pairs} 对）；这一对的匹配概率 {p}",
      "Model: trained just now ({samples} pairs, {epochs} epochs, {seconds} s), test accuracy {acc} on {pairs} pairs; P(match) for this pair {p}"],
    model_checkpoint: ["模型：检查点 {file}，测试准确率 {acc}（{pairs} 对）；这一对的匹配概率 {p}",
      "Model: checkpoint {file}, test accuracy {acc} on {pairs} pairs; P(match) for this pair {p}"],
    // online softmax
    online_title: ["在线 softmax：键一块一块地到来", "Online softmax: the keys arrive in blocks"],
    online_text: ["FlashAttention 的思路：不存下整个 P，每个查询只保留三个量 m、l、acc。新的一块键到来时若最大值变大，就用 α = exp(m − m_new) 重新缩放之前的和。最后 O = acc / l，与完整的 softmax 完全相同。",
      "FlashAttention's idea: never store all of P; each query keeps three running numbers m, l and acc. When a block of keys raises the maximum, what was summed so far is rescaled by α = exp(m − m_new). At the end O = acc / l, exactly the full softmax's result."],
    query: ["查询", "Query"],
    block_size: ["每块的键数 b", "Keys per block b"],
    online_inputs: ["（与“逐步计算”共用输入，可在那里修改）", "(the step-through's inputs: edit them there)"],
    block_col: ["块", "block"],
    keys_col: ["键", "keys"],
    online_start: ["还没有键到来：m = −∞，l = 0，acc = 0", "No keys yet: m = −∞, l = 0, acc = 0"],
    online_block_of: ["第 {i} / {n} 块", "Block {i} of {n}"],
    online_done: ["全部键已到：O = acc / l 与完整的 softmax 计算的最大差 {d}", "All keys seen: O = acc / l differs from the full softmax's O by at most {d}"],
    online_wait: ["还差 {n} 块", "Blocks still to come: {n}"],
    logits_row: ["“{row}”这一行的得分 S（已缩放、已掩码）", "The scores S of the row for {row} (scaled, masked)"],
  };

  function t(key, params) {
    const pair = WORDS[key];
    if (!pair) throw new Error("no words for " + key);
    let text = pair[state.lang === "zh" ? 0 : 1];
    for (const name in params || {}) text = text.split("{" + name + "}").join(params[name]);
    return text;
  }

  function label(labels, i) { return labels[state.lang][i]; }

  // ===================================================================== drawing helpers

  function el(tag, attrs, children) {
    // el("td", {class: "x", text: "1"}, [child, ...]); attrs.i18n: a key of WORDS (kept in data-i18n)
    const node = document.createElement(tag);
    for (const name in attrs || {}) {
      const value = attrs[name];
      if (value === undefined || value === null || value === false) continue;
      if (name === "text") node.textContent = value;
      else if (name === "html") node.innerHTML = value;
      else if (name === "i18n") setI18n(node, value, attrs.params);
      else if (name === "params") continue;
      else if (name === "on") for (const ev in value) node.addEventListener(ev, value[ev]);
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children || []) if (child) node.append(child);
    return node;
  }

  function fmt(x, digits) {
    // a number for a cell: 4 decimals (or `digits`), exponents for very small or large values, a real minus sign
    digits = digits === undefined ? 4 : digits;
    if (x === -Infinity) return "−∞";
    if (x === Infinity) return "∞";
    if (Number.isNaN(x)) return "NaN";
    if (x === 0) return "0";
    const a = Math.abs(x);
    const text = a >= 1e4 || a < Math.pow(10, -digits) ? x.toExponential(1).replace("e+", "e") : x.toFixed(digits);
    return text.replace(/-/g, "−");
  }

  function shortDigits(M) {
    // inputs typed by hand (1, 0.5, −2.3) are shown as typed: the fewest decimals (at most 2)
    // that write every number of M exactly; 4 for computed numbers
    for (let d = 0; d <= 2; d++) {
      const exact = M.every((row) => row.every((x) => !Number.isFinite(x) || (Math.abs(x) < 1e4 && Number(x.toFixed(d)) === x)));
      if (exact) return d;
    }
    return 4;
  }

  function hexToRgb(hex) { return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)); }

  function colormap(name, x) {
    // x in [0, 1] -> "rgb(...)", interpolating matplotlib's colour stops
    const stops = COLORS[name];
    const pos = Math.min(Math.max(x, 0), 1) * (stops.length - 1);
    const i = Math.min(Math.floor(pos), stops.length - 2);
    const a = hexToRgb(stops[i]), b = hexToRgb(stops[i + 1]), w = pos - i;
    return a.map((c, n) => Math.round(c + (b[n] - c) * w));
  }

  function cellColors(kind, x, range) {
    // background and text colour of a cell; kind "seq" (weights, [0, range]) or "div" (signed, [−range, range])
    const u = kind === "seq" ? x / range : 0.5 + x / (2 * range);
    const rgb = colormap(kind, u);
    const light = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2] > 140;
    return { background: "rgb(" + rgb.join(",") + ")", color: light ? "#1d2430" : "#ffffff" };
  }

  function gradientCss(kind) {
    return "linear-gradient(to right, " + COLORS[kind].join(", ") + ")";
  }

  function colorbar(kind, range) {
    const ticks = kind === "seq" ? [0, range / 2, range] : [-range, 0, range];
    return el("div", { class: "colorbar" }, [
      el("div", { class: "bar", style: "background:" + gradientCss(kind) }),
      el("div", { class: "ticks" }, ticks.map((x) => el("span", { text: fmt(x, 2) }))),
    ]);
  }

  function absMax(M) {
    let a = 0;
    for (const row of M) for (const x of row) if (Number.isFinite(x)) a = Math.max(a, Math.abs(x));
    return a === 0 ? 1 : a;
  }

  function featureLabels(n, prefix) {
    return { zh: Array.from({ length: n }, (_, i) => prefix + (i + 1)), en: Array.from({ length: n }, (_, i) => prefix + (i + 1)) };
  }

  // ===================================================================== a matrix card

  function matrixCard(o) {
    // o: {name, what (WORDS key), M, rows, cols (labels), kind "seq"|"div", role "read"|"write",
    //     edit: "q"|"k"|"v"|"dout" (editable input), transposed (M is that input transposed),
    //     toggleMask (cells toggle the mask), rowSums, focusRow, pendingFrom (rows ≥ this are not computed yet)}
    const range = o.kind === "seq" ? 1 : absMax(o.M);
    const digits = shortDigits(o.M);
    const header = el("tr", {}, [el("th")].concat(o.cols[state.lang].map((c) => el("th", { text: c }))));
    if (o.rowSums) header.append(el("th", { text: "Σ" }));
    const body = o.M.map((row, i) => {
      const pending = o.pendingFrom !== undefined && i >= o.pendingFrom;
      const tr = el("tr", { class: o.focusRow === i ? "focus" : null }, [el("th", { class: "row", text: o.rows[state.lang][i] })]);
      row.forEach((x, j) => {
        const td = el("td", { "data-value": String(x), title: pending ? null : String(x) });
        if (pending) { td.className = "pending"; td.textContent = "·"; }
        else if (x === -Infinity) { td.className = "masked"; td.textContent = "−∞"; }
        else {
          td.textContent = fmt(x, digits);
          const c = cellColors(o.kind, x, range);
          td.style.background = c.background; td.style.color = c.color;
        }
        if (o.edit && !pending) {
          td.classList.add("editable");
          const [r, c] = o.transposed ? [j, i] : [i, j];
          td.addEventListener("click", () => startEdit(td, o.edit, r, c));
        }
        if (o.toggleMask) {
          td.classList.add("togglable");
          td.addEventListener("click", () => { state.mask[i][j] = !state.mask[i][j]; edited(); recompute(); render(); });
        }
        tr.append(td);
      });
      if (o.rowSums) {
        const s = row.reduce((a, b) => a + b, 0);
        tr.append(el("td", { class: "sum", "data-value": String(s), title: String(s), text: pending ? "·" : fmt(s) }));
      }
      return tr;
    });
    const roleText = o.role ? el("span", { class: "role", i18n: o.role === "read" ? "role_read" : "role_write" }) : null;
    const shape = o.noShape ? "" : o.M.length + "×" + o.M[0].length;
    return el("div", { class: "card " + (o.role || ""), "data-name": o.name }, [
      el("div", { class: "card-title" }, [
        o.title ? el("span", { i18n: o.title[0], params: o.title[1] }) : el("span", { html: o.label || o.name }),
        o.what ? el("span", { class: "what", i18n: o.what }) : null,
        el("span", { class: "shape", text: shape }),
        roleText,
      ]),
      el("table", { class: "matrix" }, [header].concat(body)),
      colorbar(o.kind, range),
    ]);
  }

  function startEdit(td, name, i, j) {
    // an input box in the cell: Enter keeps the number, Escape (or anything not a number) cancels
    if (td.querySelector("input")) return;
    const input = el("input", { type: "text", value: String(state[name][i][j]) });
    let done = false;
    const finish = (keep) => {
      if (done) return;
      done = true;
      const x = Number(input.value.trim().replace(/−/g, "-"));
      if (keep && input.value.trim() !== "" && Number.isFinite(x)) {
        state[name][i][j] = x;
        edited();
        recompute();
      }
      render();
    };
    input.addEventListener("keydown", (e) => {
      e.stopPropagation(); // arrows move the caret, not the step
      if (e.key === "Enter") finish(true);
      if (e.key === "Escape") finish(false);
    });
    input.addEventListener("blur", () => finish(true));
    td.textContent = "";
    td.append(input);
    input.focus();
    input.select();
  }

  function sub(n) { // 12 -> "₁₂"
    return String(n).split("").map((d) => "₀₁₂₃₄₅₆₇₈₉"[Number(d)]).join("");
  }

  function op(text, word) { return el("span", { class: word ? "op word" : "op", text }); }

  function scalar(value, what) {
    return el("div", { class: "scalar" }, [el("span", { text: fmt(value) }), el("span", { class: "what", i18n: what })]);
  }

  // ===================================================================== the steps

  // Each step: its formula (the same notation as gemini_np/reference.py), its title and
  // text (WORDS keys), and draw(): the matrices it reads and writes, as an equation.
  function steps() {
    const s = state, f = state.f, b = state.b;
    const Q = { zh: s.queries.zh, en: s.queries.en }, K = s.keys;
    const dk = featureLabels(s.q[0].length, "d"), dv = featureLabels(s.v[0].length, "d");
    const article = s.preset === 0;
    const card = (o) => matrixCard(o);
    const qCard = (role) => card({ name: "Q", what: "m_queries", M: s.q, rows: Q, cols: dk, kind: "div", role, edit: "q" });
    const kCard = (role) => card({ name: "K", what: "m_keys", M: s.k, rows: K, cols: dk, kind: "div", role, edit: "k" });
    const vCard = (role) => card({ name: "V", what: "m_values", M: s.v, rows: K, cols: dv, kind: "div", role, edit: "v" });
    const sCard = (role, focusRow, toggle) => card({ name: "S", what: "m_scores", M: f.S, rows: Q, cols: K, kind: "div", role, focusRow, toggleMask: toggle });
    const pCard = (role, pendingFrom, focusRow) => card({ name: "P", what: "m_weights", M: f.P, rows: Q, cols: K, kind: "seq", role, rowSums: true, pendingFrom, focusRow });
    const oCard = (role) => card({ name: "O", what: "m_output", M: f.out, rows: Q, cols: dv, kind: "div", role });
    const doCard = (role) => card({ name: "dO", what: "m_grad", M: s.dout, rows: Q, cols: dv, kind: "div", role, edit: "dout" });
    const dsCard = (role) => card({ name: "dS", what: "m_grad", M: b.dS, rows: Q, cols: K, kind: "div", role, rowSums: true });
    const rCard = (role) => card({ name: "r", what: "m_rowterm", M: b.r.map((x) => [x]), rows: Q, cols: { zh: ["r"], en: ["r"] }, kind: "div", role });
    const eq = (...items) => el("div", { class: "equation" }, items);

    const list = [
      { id: "inputs", phase: "forward", formula: article ? "Q = K = V = H" : "Q, K, V", title: "s_inputs",
        text: article ? "s_inputs_article" : "s_inputs_text",
        draw: () => [el("div", { class: "equation list" }, [qCard("write"), kCard("write"), vCard("write")])] },
      { id: "qk", phase: "forward", formula: "S = Q Kᵀ", title: "s_qk", text: article ? "s_qk_article" : "s_qk_text",
        draw: () => [eq(card({ name: "QKᵀ", label: "Q K<sup>T</sup>", what: "m_products", M: f.QK, rows: Q, cols: K, kind: "div", role: "write" }),
          op("="), qCard("read"), op("·"),
          card({ name: "Kᵀ", label: "K<sup>T</sup>", what: "m_keys", M: transpose(s.k), rows: dk, cols: K, kind: "div", role: "read", edit: "k", transposed: true }))] },
      { id: "scale", phase: "forward", formula: "S = Q Kᵀ · scale + mask", title: "s_scale", text: "s_scale_text",
        draw: () => [eq(sCard("write", undefined, true), op("="),
          card({ name: "QKᵀ", label: "Q K<sup>T</sup>", what: "m_products", M: f.QK, rows: Q, cols: K, kind: "div", role: "read" }),
          op("·"), scalar(s.scale, "scale_word"), op("+ mask", true))] },
    ];
    s.q.forEach((_, i) => list.push({
      id: "row", row: i, phase: "forward", formula: "P" + sub(i + 1) + " = exp(S" + sub(i + 1) + " − m) / Σⱼ exp(S" + sub(i + 1) + "ⱼ − m)",
      short: "P" + sub(i + 1) + " = softmax(S" + sub(i + 1) + ")", title: "s_row",
      titleParams: { row: i + 1, token: label(Q, i) }, text: "s_row_text",
      draw: () => [eq(rowTable(i), op("⇒"), pCard("write", i + 1, i))],
    }));
    list.push(
      { id: "p", phase: "forward", formula: "P = softmax(S)", title: "s_p", text: article ? "s_p_article" : "s_p_text",
        draw: () => [eq(pCard("write"), op("="), op("softmax", true), sCard("read"))] },
      { id: "o", phase: "forward", formula: "O = P V", title: "s_o", text: "s_o_text",
        draw: () => [eq(oCard("write"), op("="), pCard("read"), op("·"), vCard("read"))] },
      { id: "dout", phase: "backward", formula: "dO = ∂L/∂O", title: "s_dout", text: article ? "s_dout_article" : "s_dout_text",
        draw: () => [eq(doCard("write"), oCard("read"))] },
      { id: "dv", phase: "backward", formula: "dV = Pᵀ dO", title: "s_dv", text: "s_dv_text",
        draw: () => [eq(card({ name: "dV", what: "m_grad", M: b.dv, rows: K, cols: dv, kind: "div", role: "write" }), op("="),
          card({ name: "Pᵀ", label: "P<sup>T</sup>", what: "m_weights", M: transpose(f.P), rows: K, cols: Q, kind: "seq", role: "read" }),
          op("·"), doCard("read"))] },
      { id: "dp", phase: "backward", formula: "dP = dO Vᵀ", title: "s_dp", text: "s_dp_text",
        draw: () => [eq(card({ name: "dP", what: "m_grad", M: b.dP, rows: Q, cols: K, kind: "div", role: "write" }), op("="),
          doCard("read"), op("·"),
          card({ name: "Vᵀ", label: "V<sup>T</sup>", what: "m_values", M: transpose(s.v), rows: dv, cols: K, kind: "div", role: "read", edit: "v", transposed: true }))] },
      { id: "r", phase: "backward", formula: "r = rowsum(dO ∘ O)", title: "s_r", text: "s_r_text",
        draw: () => [eq(rCard("write"), op("="), op("rowsum", true), op("("), doCard("read"), op("∘"), oCard("read"), op(")"))] },
      { id: "ds", phase: "backward", formula: "dS = P ∘ (dP − r)", title: "s_ds", text: "s_ds_text",
        draw: () => [eq(dsCard("write"), op("="), pCard("read"), op("∘ ("),
          card({ name: "dP", what: "m_grad", M: b.dP, rows: Q, cols: K, kind: "div", role: "read" }), op("−"), rCard("read"), op(")"))] },
      { id: "dq", phase: "backward", formula: "dQ = scale · dS K", title: "s_dq", text: "s_dq_text",
        draw: () => [eq(card({ name: "dQ", what: "m_grad", M: b.dq, rows: Q, cols: dk, kind: "div", role: "write" }), op("="),
          scalar(s.scale, "scale_word"), op("·"), dsCard("read"), op("·"), kCard("read"))] },
      { id: "dk", phase: "backward", formula: "dK = scale · dSᵀ Q", title: "s_dk", text: article ? "s_dk_article" : "s_dk_text",
        draw: () => [eq(card({ name: "dK", what: "m_grad", M: b.dk, rows: K, cols: dk, kind: "div", role: "write" }), op("="),
          scalar(s.scale, "scale_word"), op("·"),
          card({ name: "dSᵀ", label: "dS<sup>T</sup>", what: "m_grad", M: transpose(b.dS), rows: K, cols: Q, kind: "div", role: "read" }),
          op("·"), qCard("read"))] },
    );
    return list;
  }

  function rowTable(i) {
    // softmax of one row, line by line: S_i, S_i − m, exp(S_i − m), P_i = exp(·) / Σ
    const row = state.f.rows[i], S = state.f.S[i];
    const lines = [
      ["S", S],
      ["S − m", S.map((x) => x - row.m)],
      ["exp(S − m)", row.e],
      ["P = exp / Σ", row.p],
    ];
    const card = matrixCard({ name: "softmax-row", label: "S<sub>" + (i + 1) + "</sub> → P<sub>" + (i + 1) + "</sub>",
      M: lines.map((l) => l[1]), noShape: true,
      rows: { zh: lines.map((l) => l[0]), en: lines.map((l) => l[0]) }, cols: state.keys, kind: "div", role: "read" });
    // one colour scale per line would mislead: this table is about the numbers, so it stays uncoloured
    card.querySelectorAll("td").forEach((td) => { if (!td.classList.contains("masked")) { td.style.background = "#f4f2ec"; td.style.color = "#1d2430"; } });
    card.querySelector(".colorbar").remove();
    const extra = el("div", { class: "scalar" }, [
      el("span", { text: "m = " + fmt(row.m) }),
      el("span", { text: "Σ = " + fmt(row.total) }),
    ]);
    return el("div", { class: "equation" }, [card, extra]);
  }

  // ===================================================================== rendering the step-through

  function renderSteps() {
    const list = steps();
    const step = list[state.step];
    // the formula sheet: every step's formula, the current one highlighted
    const sheet = document.getElementById("formula-list");
    sheet.textContent = "";
    list.forEach((st, n) => {
      const li = el("li", { class: [n === state.step ? "current" : n < state.step ? "done" : "", n > 0 && st.phase !== list[n - 1].phase ? "phase-start" : ""].join(" "),
        "data-step": n, on: { click: () => goStep(n) } }, [el("span", { class: "n", text: String(n + 1) }), el("span", { text: st.short || st.formula })]);
      sheet.append(li);
    });
    const current = sheet.querySelector(".current");
    if (current && current.scrollIntoView) current.scrollIntoView({ block: "nearest" });

    setI18n(document.getElementById("step-phase"), step.phase);
    document.getElementById("step-phase").className = "phase " + step.phase;
    setI18n(document.getElementById("step-counter"), "step_of", { i: state.step + 1, n: list.length });
    setI18n(document.getElementById("step-title"), step.title, step.titleParams);
    document.getElementById("step-formula").textContent = step.formula;
    setI18n(document.getElementById("step-text"), step.text);
    const masked = fullyMaskedRows();
    const alert = document.getElementById("step-alert");
    alert.hidden = masked.length === 0;
    if (masked.length) setI18n(alert, "masked_rows", { rows: masked.map((i) => label(state.queries, i)).join(", ") });

    const stage = document.getElementById("stage");
    stage.textContent = "";
    stage.dataset.step = step.id;
    for (const part of step.draw()) stage.append(part);
    fitStage(stage);

    document.getElementById("prev-step").disabled = state.step === 0;
    document.getElementById("next-step").disabled = state.step === list.length - 1;
    renderControls();
    renderNumpyCheck();
  }

  function fitStage(stage) {
    // Nothing is ever cut off, whatever the shapes: shrink the numbers until the equation fits.
    // If one line would need small type, try letting the equation wrap onto two lines; keep
    // that only when it gives clearly larger numbers.
    const overflows = () => stage.scrollWidth > stage.clientWidth + 1 || stage.scrollHeight > stage.clientHeight + 1;
    const shrink = () => { // the largest --fit (1, 0.95, ... 0.3) at which the stage does not overflow
      let fit = 1;
      stage.style.setProperty("--fit", fit);
      while (fit > 0.3 && overflows()) {
        fit = Math.round((fit - 0.05) * 100) / 100;
        stage.style.setProperty("--fit", fit);
      }
      return fit;
    };
    const equations = stage.querySelectorAll(".equation:not(.list)");
    const oneLine = shrink();
    if (oneLine >= 0.8 || equations.length === 0) return;
    equations.forEach((e) => e.classList.add("wrap"));
    if (shrink() >= oneLine + 0.15) return;
    equations.forEach((e) => e.classList.remove("wrap"));
    stage.style.setProperty("--fit", oneLine);
  }

  function setI18n(node, key, params) {
    node.dataset.i18n = key;
    node.dataset.i18nParams = params ? JSON.stringify(params) : "";
    node.textContent = t(key, params);
  }

  function renderControls() {
    document.querySelectorAll(".preset-select").forEach((select) => {
      select.textContent = "";
      DATA.presets.forEach((p, i) => select.append(el("option", { value: i, i18n: "preset_" + p.name })));
      if (state.preset < 0) select.append(el("option", { value: -1, i18n: "preset_custom" }));
      select.value = String(state.preset);
    });

    const T = 1 / (state.scale * Math.sqrt(dK())); // scale = 1/(T √d_k)
    const slider = document.getElementById("temperature");
    if (document.activeElement !== slider) slider.value = String(Math.min(Math.max(Math.log(T), -3), 2.3));
    document.getElementById("temperature-value").textContent =
      "T = " + fmt(T, 2) + "   scale = 1/(T·√" + dK() + ") = " + fmt(state.scale);

    const toggles = document.getElementById("mask-toggles");
    toggles.textContent = "";
    state.keys[state.lang].forEach((name, j) => {
      const column = state.mask.map((row) => row[j]);
      const all = column.every((x) => x), none = column.every((x) => !x);
      const button = el("button", { class: "mask-toggle" + (none ? " off" : all ? "" : " mixed"), "aria-pressed": String(all),
        "data-key": j, text: name, on: { click: () => {
          state.mask.forEach((row) => { row[j] = !all; });
          edited(); recompute(); render();
        } } });
      button.dataset.i18nTitle = "mask_toggle_title";
      button.title = t("mask_toggle_title");
      toggles.append(button);
    });
  }

  function renderNumpyCheck() {
    // for an unchanged preset, compare this page's numbers with the ones NumPy wrote into it
    const node = document.getElementById("numpy-check");
    if (state.preset < 0) { setI18n(node, "numpy_edited"); return; }
    const ref = DATA.presets[state.preset].numpy, mine = api.state();
    let d = 0;
    for (const name in ref) ref[name].forEach((row, i) => row.forEach((x, j) => { d = Math.max(d, Math.abs(x - mine[name][i][j])); }));
    setI18n(node, "numpy_same", { d: d === 0 ? "0" : d.toExponential(1).replace("-", "−") });
  }

  function goStep(n) {
    state.step = Math.max(0, Math.min(n, steps().length - 1));
    render();
  }

  // ===================================================================== the image view

  function example() { return DATA.examples[state.example]; }

  function drawImage(canvas, image, opts) {
    // image (H, W, 3) in [0, 1], scaled to the canvas; opts.grid p: patch lines; opts.patch [i, j]: outline one patch
    // opts.pixel [r, c]: outline one pixel; opts.dimOutside [i, j]: fade every other patch
    const ctx = canvas.getContext("2d");
    const H = image.length, W = image[0].length, cell = canvas.width / W;
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    for (let r = 0; r < H; r++) for (let c = 0; c < W; c++) {
      ctx.fillStyle = "rgb(" + image[r][c].map((x) => Math.round(x * 255)).join(",") + ")";
      ctx.fillRect(c * cell, r * cell, cell + 0.5, cell + 0.5);
    }
    const p = opts.grid;
    if (opts.dimOutside) {
      const [i, j] = opts.dimOutside;
      ctx.fillStyle = "rgba(247, 246, 242, 0.55)";
      ctx.beginPath();
      ctx.rect(0, 0, canvas.width, canvas.height);
      ctx.rect(j * p * cell, i * p * cell, p * cell, p * cell);
      ctx.fill("evenodd");
    }
    if (p) {
      ctx.strokeStyle = "rgba(255, 255, 255, 0.55)";
      ctx.lineWidth = Math.max(1, cell / 12);
      for (let x = 0; x <= W; x += p) { ctx.beginPath(); ctx.moveTo(x * cell, 0); ctx.lineTo(x * cell, H * cell); ctx.stroke(); }
      for (let y = 0; y <= H; y += p) { ctx.beginPath(); ctx.moveTo(0, y * cell); ctx.lineTo(W * cell, y * cell); ctx.stroke(); }
    }
    if (opts.patch) {
      const [i, j] = opts.patch;
      ctx.strokeStyle = "#f28e2b";
      ctx.lineWidth = Math.max(2, cell / 5);
      ctx.strokeRect(j * p * cell, i * p * cell, p * cell, p * cell);
    }
    if (opts.pixel) {
      const [r, c] = opts.pixel;
      ctx.strokeStyle = "#ffffff";
      ctx.lineWidth = Math.max(2, cell / 6);
      ctx.strokeRect(c * cell + 1, r * cell + 1, cell - 2, cell - 2);
    }
  }

  function defaultPixel(image) {
    // a pixel of the shape: the bright pixel nearest the bright pixels' centre
    const bright = [];
    image.forEach((row, r) => row.forEach((px, c) => { if (Math.max(...px) > 0.5) bright.push([r, c]); }));
    if (!bright.length) return [0, 0];
    const cr = bright.reduce((a, x) => a + x[0], 0) / bright.length, cc = bright.reduce((a, x) => a + x[1], 0) / bright.length;
    bright.sort((a, b) => Math.hypot(a[0] - cr, a[1] - cc) - Math.hypot(b[0] - cr, b[1] - cc));
    return bright[0];
  }

  function pixelWeights(r, c) {
    // the weights of pixel (r, c) over the p·p pixels of its own patch, from the embedded NumPy data
    const p = DATA.model.patch_size, ex = example();
    const i = Math.floor(r / p), j = Math.floor(c / p), slot = (r % p) * p + (c % p);
    const maps = state.imageSource === "pixel" ? ex.pixel : ex.image_attention[Number(state.imageSource)];
    return { i, j, w: maps[i][j][slot] };
  }

  function heatGrid(values, cols, opts) {
    // values: a flat list, drawn as a grid of coloured cells with their numbers
    const vmax = opts.vmax;
    const grid = el("div", { class: "heat-grid", style: "grid-template-columns: repeat(" + cols + ", " + opts.size + "px)" });
    values.forEach((x, n) => {
      const c = cellColors("seq", x, vmax);
      const cell = el("div", { "data-value": String(x), title: String(x), text: opts.percent ? (100 * x).toFixed(1) + "%" : x.toFixed(3),
        style: "height:" + opts.size + "px; background:" + c.background + "; color:" + c.color + "; font-size:" + opts.font + "px" });
      if (opts.selected === n) cell.classList.add("selected");
      if (opts.onclick) { cell.style.cursor = "pointer"; cell.addEventListener("click", () => opts.onclick(n)); }
      grid.append(cell);
    });
    return grid;
  }

  function renderExamplePickers() {
    document.querySelectorAll(".example-picker").forEach((box) => {
      box.textContent = "";
      DATA.examples.forEach((ex, n) => {
        const canvas = el("canvas", { width: 32, height: 32 });
        drawImage(canvas, ex.image, {});
        const button = el("button", { class: "chip" + (n === state.example ? " active" : ""), "data-example": n,
          title: ex.tokens.map((tok) => tok[state.lang]).join(" "), on: { click: () => { state.example = n; state.pixel = null; state.patch = null; state.token = 0; render(); } } }, [canvas]);
        box.append(button);
      });
    });
  }

  function renderImage() {
    const select = document.getElementById("image-source");
    select.textContent = "";
    select.append(el("option", { value: "pixel", i18n: "source_pixel" }));
    for (let h = 0; h < DATA.model.heads; h++) select.append(el("option", { value: String(h), i18n: "source_head", params: { h: h + 1 } }));
    select.value = state.imageSource;

    const ex = example(), p = DATA.model.patch_size;
    if (!state.pixel) state.pixel = defaultPixel(ex.image);
    const [r, c] = state.pixel;
    const { i, j, w } = pixelWeights(r, c);
    const canvas = document.getElementById("image-canvas");
    const size = state.present ? 440 : 400;
    sizeCanvas(canvas, size);
    drawImage(canvas, ex.image, { grid: p, patch: [i, j], pixel: [r, c], dimOutside: [i, j] });

    const sum = w.reduce((a, x) => a + x, 0);
    setI18n(document.getElementById("pixel-info"), "pixel_info", { r: r + 1, c: c + 1, i: i + 1, j: j + 1, sum: sum.toFixed(3) });
    const box = document.getElementById("patch-weights");
    box.textContent = "";
    const vmax = Math.max(...w);
    const cellSize = state.present ? 96 : 84;
    box.append(heatGrid(w, p, { vmax, size: cellSize, font: state.present ? 20 : 16, selected: (r % p) * p + (c % p) }));
    const bar = colorbar("seq", vmax);
    bar.style.maxWidth = p * (cellSize + 3) + "px";
    box.append(el("div", { class: "caption", i18n: "weight_word" }), bar);
  }

  function sizeCanvas(canvas, css) {
    // draw at the screen's resolution, shown at css pixels
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(css * ratio);
    canvas.height = Math.round(css * ratio);
    canvas.style.width = css + "px";
    canvas.style.height = css + "px";
  }

  function imagePointer(e) {
    const canvas = e.currentTarget, rect = canvas.getBoundingClientRect();
    const H = example().image.length;
    const r = Math.floor(((e.clientY - rect.top) / rect.height) * H), c = Math.floor(((e.clientX - rect.left) / rect.width) * H);
    return [Math.min(Math.max(r, 0), H - 1), Math.min(Math.max(c, 0), H - 1)];
  }

  // ===================================================================== the fusion view

  function fusionWeights() {
    // (n+m, n+m): one head's weights, or the mean of the heads (still rows summing to 1)
    const F = example().fusion;
    if (state.head !== "mean") return F[Number(state.head)];
    return F[0].map((row, i) => row.map((_, j) => F.reduce((a, h) => a + h[i][j], 0) / F.length));
  }

  function renderFusion() {
    const ex = example(), p = DATA.model.patch_size, n = ex.tokens.length;
    const grid = DATA.model.image_size / p, m = grid * grid;
    const select = document.getElementById("fusion-head");
    select.textContent = "";
    select.append(el("option", { value: "mean", i18n: "head_mean" }));
    for (let h = 0; h < DATA.model.heads; h++) select.append(el("option", { value: String(h), i18n: "head_n", params: { h: h + 1 } }));
    select.value = state.head;
    const info = DATA.model;
    const params = { samples: info.samples, epochs: info.epochs, seconds: info.seconds, acc: Number(info.test_accuracy).toFixed(4),
      pairs: info.test_pairs, file: info.file, p: ex.p_match.toFixed(3) };
    setI18n(document.getElementById("model-info"), info.source === "checkpoint" ? "model_checkpoint" : "model_trained", params);

    const F = fusionWeights();
    state.token = Math.min(state.token, n - 1);
    if (state.patch === null) state.patch = patchOfPixel(defaultPixel(ex.image));

    // token -> patches
    const buttons = document.getElementById("token-buttons");
    buttons.textContent = "";
    ex.tokens.forEach((tok, k) => buttons.append(el("button", { class: "chip" + (k === state.token ? " active" : ""), "data-token": k,
      text: tok[state.lang], on: { click: () => { state.token = k; render(); } } })));
    const row = F[state.token];
    const toPatches = row.slice(n, n + m), toText = row.slice(0, n);
    const heat = document.getElementById("token-heat");
    heat.textContent = "";
    const vmax = Math.max(...toPatches);
    const size = state.present ? 66 : 60;
    heat.append(heatGrid(toPatches, grid, { vmax, size, font: state.present ? 15 : 13, percent: true, selected: state.patch }));
    const bar = colorbar("seq", vmax);
    bar.style.maxWidth = grid * (size + 3) + "px";
    heat.append(bar);
    const thumb = document.getElementById("token-image");
    sizeCanvas(thumb, grid * (size + 3) - 3); // as large as the heat grid beside it: patch for patch
    drawImage(thumb, ex.image, { grid: p });
    const pct = (x) => (100 * x).toFixed(0) + "%";
    setI18n(document.getElementById("token-share"), "token_share", { token: ex.tokens[state.token][state.lang],
      img: pct(toPatches.reduce((a, x) => a + x, 0)), txt: pct(toText.reduce((a, x) => a + x, 0)) });

    // patch -> tokens
    const canvas = document.getElementById("patch-image");
    sizeCanvas(canvas, 280);
    const pi = Math.floor(state.patch / grid), pj = state.patch % grid;
    drawImage(canvas, ex.image, { grid: p, patch: [pi, pj], dimOutside: [pi, pj] });
    const prow = F[n + state.patch];
    const bars = document.getElementById("patch-bars");
    bars.textContent = "";
    const tmax = Math.max(...prow.slice(0, n), 1e-12);
    ex.tokens.forEach((tok, k) => bars.append(el("div", { class: "bar-row", "data-token": k }, [
      el("span", { text: tok[state.lang] }),
      el("div", { class: "track" }, [el("div", { class: "fill", style: "width:" + (100 * prow[k] / tmax).toFixed(1) + "%" })]),
      el("span", { class: "value", "data-value": String(prow[k]), text: (100 * prow[k]).toFixed(1) + "%" }),
    ])));
    setI18n(document.getElementById("patch-share"), "patch_share", { i: pi + 1, j: pj + 1,
      txt: pct(prow.slice(0, n).reduce((a, x) => a + x, 0)), img: pct(prow.slice(n).reduce((a, x) => a + x, 0)) });
  }

  function patchOfPixel(px) {
    const p = DATA.model.patch_size, grid = DATA.model.image_size / p;
    return Math.floor(px[0] / p) * grid + Math.floor(px[1] / p);
  }

  // ===================================================================== the online-softmax view

  function rowWithRescale() {
    // the first query row whose running maximum grows after the first block, else row 0
    const rows = state.f.S.map((s) => onlineSoftmax(s, state.v, state.onlineBlock).trace);
    const i = rows.findIndex((trace) => trace.slice(2).some((st) => st.alpha < 1));
    return i < 0 ? 0 : i;
  }

  function onlineRun() {
    return onlineSoftmax(state.f.S[state.onlineRow], state.v, state.onlineBlock);
  }

  function renderOnline() {
    const nk = state.k.length, run = onlineRun(), nBlocks = run.trace.length - 1;
    state.onlineStep = Math.min(state.onlineStep, nBlocks);
    const now = run.trace[state.onlineStep];
    const rows = document.getElementById("online-rows");
    rows.textContent = "";
    state.queries[state.lang].forEach((name, i) => rows.append(el("button", { class: "chip" + (i === state.onlineRow ? " active" : ""),
      "data-row": i, text: name, on: { click: () => { state.onlineRow = i; state.onlineRowChosen = true; state.onlineStep = 0; render(); } } })));
    const blocks = document.getElementById("online-blocks");
    blocks.textContent = "";
    for (let b = 1; b <= nk; b++) blocks.append(el("button", { class: "chip" + (b === state.onlineBlock ? " active" : ""),
      "data-block": b, text: String(b), on: { click: () => { state.onlineBlock = b; state.onlineStep = 0; recompute(); render(); } } }));

    // the row of logits, each key marked: arrived earlier, arriving now, still to come
    const S = state.f.S[state.onlineRow];
    const strip = document.getElementById("online-strip");
    strip.textContent = "";
    const card = matrixCard({ name: "S-row", title: ["logits_row", { row: label(state.queries, state.onlineRow) }], M: [S],
      rows: { zh: ["S"], en: ["S"] }, cols: state.keys, kind: "div" });
    card.querySelectorAll("td").forEach((td, j) => {
      const block = Math.floor(j / state.onlineBlock) + 1;
      td.classList.add("block-cell", block < state.onlineStep ? "arrived" : block === state.onlineStep ? "current" : "future");
    });
    strip.append(card);

    // the formulas of one block, with this block's numbers
    const lines = document.getElementById("online-lines");
    lines.textContent = "";
    const vec = (a) => "[" + a.map((x) => fmt(x, 3)).join(", ") + "]";
    if (state.onlineStep === 0) {
      lines.append(el("div", { class: "line", i18n: "online_start" }));
    } else {
      const prev = run.trace[state.onlineStep - 1];
      const text = [
        ["m_new = max(m, rowmax(S_b))", "max(" + fmt(prev.m) + ", " + fmt(Math.max(...now.sb)) + ") = " + fmt(now.mNew)],
        ["P̃_b = exp(S_b − m_new)", vec(now.pb)],
        ["α = exp(m − m_new)", fmt(now.alpha)],
        ["l = α · l + rowsum(P̃_b)", fmt(now.alpha) + " · " + fmt(prev.l) + " + " + fmt(now.pb.reduce((a, x) => a + x, 0)) + " = " + fmt(now.l)],
        ["acc = α · acc + P̃_b V_b", vec(now.acc)],
        ["m = m_new", fmt(now.m)],
      ];
      for (const [formula, value] of text) lines.append(el("div", { class: "line" }, [el("span", { text: formula }), el("span", { class: "eq", text: "  →  " }), el("span", { text: value })]));
    }

    // the running state after every block
    const table = el("table", {}, [el("tr", {}, [el("th", { i18n: "block_col" }), el("th", { i18n: "keys_col" }),
      el("th", { text: "m" }), el("th", { text: "l" }), el("th", { text: "acc" })])]);
    run.trace.forEach((st, b) => {
      const cls = b === state.onlineStep ? "current" : b > state.onlineStep ? "future" : "";
      const show = b <= state.onlineStep;
      table.append(el("tr", { class: cls, "data-block": b }, [
        el("td", { text: String(b) }),
        el("td", { text: st.keys.map((j) => label(state.keys, j)).join(" ") || "–" }),
        el("td", { text: show ? fmt(st.m) : "·", "data-value": String(st.m) }),
        el("td", { text: show ? fmt(st.l) : "·", "data-value": String(st.l) }),
        el("td", { text: show ? vec(st.acc) : "·" }),
      ]));
    });
    const box = document.getElementById("online-table");
    box.textContent = "";
    box.append(table);

    // at the end: O = acc / l against the full computation
    const result = document.getElementById("online-result");
    result.textContent = "";
    if (state.onlineStep === nBlocks) {
      const full = state.f.out[state.onlineRow];
      const d = Math.max(...run.out.map((x, c) => Math.abs(x - full[c])));
      result.append(el("div", { text: "P = exp(S − m) / l = " + vec(run.weights) }),
        el("div", { text: "O = acc / l = " + vec(run.out) }),
        el("div", { class: "ok", "data-difference": String(d), i18n: "online_done", params: { d: d === 0 ? "0" : d.toExponential(1).replace("-", "−") } }));
    } else {
      result.append(el("div", { i18n: "online_wait", params: { n: nBlocks - state.onlineStep } }));
    }
    setI18n(document.getElementById("online-counter"), "online_block_of", { i: state.onlineStep, n: nBlocks });
    document.getElementById("online-prev").disabled = state.onlineStep === 0;
    document.getElementById("online-next").disabled = state.onlineStep === nBlocks;
  }

  // ===================================================================== the whole page

  function applyLanguage() {
    document.documentElement.lang = state.lang === "zh" ? "zh-Hans" : "en";
    document.body.dataset.lang = state.lang;
    document.title = t("app_title") + " · gemini_np";
    document.querySelectorAll("[data-i18n]").forEach((node) => {
      const params = node.dataset.i18nParams ? JSON.parse(node.dataset.i18nParams) : undefined;
      node.textContent = t(node.dataset.i18n, params);
    });
    document.querySelectorAll("[data-i18n-title]").forEach((node) => { node.title = t(node.dataset.i18nTitle); });
    document.querySelectorAll(".lang-button").forEach((b) => b.classList.toggle("active", b.dataset.setLang === state.lang));
  }

  function render() {
    document.body.classList.toggle("present", state.present);
    document.querySelectorAll(".tab").forEach((tab) => {
      tab.classList.toggle("active", tab.dataset.view === state.view);
      tab.setAttribute("aria-selected", String(tab.dataset.view === state.view));
    });
    document.querySelectorAll("main > .view").forEach((v) => { v.hidden = v.dataset.view !== state.view; });
    const present = document.getElementById("present-button");
    present.dataset.i18n = state.present ? "present_off" : "present_on";
    renderExamplePickers();
    if (state.view === "steps") renderSteps();
    if (state.view === "image") renderImage();
    if (state.view === "fusion") renderFusion();
    if (state.view === "online") { renderControls(); renderOnline(); }
    applyLanguage();
  }

  function onKey(e) {
    if (e.target.closest && e.target.closest("input, select, textarea")) return;
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    const forward = e.key === "ArrowRight" || e.key === "PageDown";
    const back = e.key === "ArrowLeft" || e.key === "PageUp";
    if (e.key === "Escape" && state.present) { state.present = false; render(); return; }
    if (state.view === "steps") {
      if (forward || e.key === "ArrowDown") goStep(state.step + 1);
      else if (back || e.key === "ArrowUp") goStep(state.step - 1);
      else if (e.key === "Home") goStep(0);
      else if (e.key === "End") goStep(steps().length - 1);
      else return;
    } else if (state.view === "image") {
      const H = example().image.length, [r, c] = state.pixel;
      const moves = { ArrowRight: [0, 1], ArrowLeft: [0, -1], ArrowDown: [1, 0], ArrowUp: [-1, 0] };
      if (!moves[e.key]) return;
      state.pixel = [Math.min(Math.max(r + moves[e.key][0], 0), H - 1), Math.min(Math.max(c + moves[e.key][1], 0), H - 1)];
      render();
    } else if (state.view === "fusion") {
      const n = example().tokens.length;
      if (forward) state.token = (state.token + 1) % n;
      else if (back) state.token = (state.token + n - 1) % n;
      else return;
      render();
    } else if (state.view === "online") {
      const nBlocks = Math.ceil(state.k.length / state.onlineBlock);
      if (forward) state.onlineStep = Math.min(state.onlineStep + 1, nBlocks);
      else if (back) state.onlineStep = Math.max(state.onlineStep - 1, 0);
      else return;
      render();
    }
    e.preventDefault();
  }

  function wire() {
    document.querySelectorAll(".tab").forEach((tab) => tab.addEventListener("click", () => { state.view = tab.dataset.view; render(); }));
    document.querySelectorAll(".lang-button").forEach((b) => b.addEventListener("click", () => { state.lang = b.dataset.setLang; render(); }));
    document.getElementById("present-button").addEventListener("click", () => { state.present = !state.present; render(); });
    document.getElementById("prev-step").addEventListener("click", () => goStep(state.step - 1));
    document.getElementById("next-step").addEventListener("click", () => goStep(state.step + 1));
    document.getElementById("online-prev").addEventListener("click", () => { state.onlineStep = Math.max(0, state.onlineStep - 1); render(); });
    document.getElementById("online-next").addEventListener("click", () => { state.onlineStep += 1; render(); });
    document.querySelectorAll(".preset-select").forEach((select) => select.addEventListener("change", (e) => {
      const i = Number(e.target.value);
      if (i >= 0) { loadPreset(i); render(); }
    }));
    const slider = document.getElementById("temperature");
    slider.addEventListener("input", () => {
      state.scale = 1 / (Math.exp(Number(slider.value)) * Math.sqrt(dK())); // scale = 1/(T √d_k)
      edited(); recompute(); render();
    });
    document.getElementById("temperature-reset").addEventListener("click", () => {
      state.scale = defaultScale();
      slider.value = "0";
      recompute(); render();
    });
    document.getElementById("image-source").addEventListener("change", (e) => { state.imageSource = e.target.value; render(); });
    document.getElementById("fusion-head").addEventListener("change", (e) => { state.head = e.target.value; render(); });
    const image = document.getElementById("image-canvas");
    image.addEventListener("mousemove", (e) => {
      const px = imagePointer(e);
      if (!state.pixel || px[0] !== state.pixel[0] || px[1] !== state.pixel[1]) { state.pixel = px; render(); }
    });
    document.getElementById("patch-image").addEventListener("click", (e) => { state.patch = patchOfPixel(imagePointer(e)); render(); });
    document.addEventListener("keydown", onKey);
    window.addEventListener("resize", () => render());
  }

  // ===================================================================== the scripting hook (pinned)

  function checkMatrix(M, name, rows, cols) {
    // M must be an array of `rows` arrays of `cols` finite numbers (rows/cols: null = any ≥ 1)
    if (!Array.isArray(M) || M.length === 0 || !M.every((r) => Array.isArray(r)))
      throw new TypeError("gnpExplorer.set: " + name + " must be a non-empty array of arrays of numbers");
    const n = M[0].length;
    if (n === 0 || !M.every((r) => r.length === n)) throw new RangeError("gnpExplorer.set: the rows of " + name + " must all have the same, non-zero length");
    if (rows !== null && M.length !== rows) throw new RangeError("gnpExplorer.set: " + name + " must have " + rows + " rows, got " + M.length);
    if (cols !== null && n !== cols) throw new RangeError("gnpExplorer.set: " + name + " must have " + cols + " columns, got " + n);
    if (!M.every((r) => r.every((x) => typeof x === "number" && Number.isFinite(x))))
      throw new TypeError("gnpExplorer.set: " + name + " must hold finite numbers only");
    return M.map((r) => r.slice());
  }

  const api = {
    /** Load inputs {q (n_q, d_k), k (n_k, d_k), v (n_k, d_v), dout (n_q, d_v), scale?, mask?}
     *  (arrays of arrays; mask: booleans, true = may attend; scale defaults to 1/√d_k),
     *  recompute forward and backward and redraw, synchronously. */
    set(inputs) {
      if (!inputs || typeof inputs !== "object") throw new TypeError("gnpExplorer.set: give an object {q, k, v, dout, scale?, mask?}");
      const q = checkMatrix(inputs.q, "q", null, null);
      const k = checkMatrix(inputs.k, "k", null, q[0].length);
      const v = checkMatrix(inputs.v, "v", k.length, null);
      const dout = checkMatrix(inputs.dout, "dout", q.length, v[0].length);
      let mask = q.map(() => k.map(() => true));
      if (inputs.mask !== undefined && inputs.mask !== null) {
        const M = inputs.mask;
        if (!Array.isArray(M) || M.length !== q.length || !M.every((r) => Array.isArray(r) && r.length === k.length && r.every((x) => typeof x === "boolean")))
          throw new TypeError("gnpExplorer.set: mask must be " + q.length + " arrays of " + k.length + " booleans (true = may attend)");
        mask = M.map((r) => r.slice());
      }
      let scale = 1 / Math.sqrt(q[0].length);
      if (inputs.scale !== undefined && inputs.scale !== null) {
        if (typeof inputs.scale !== "number" || !Number.isFinite(inputs.scale) || inputs.scale <= 0)
          throw new RangeError("gnpExplorer.set: scale must be a positive finite number, got " + inputs.scale);
        scale = inputs.scale;
      }
      // labels: kept when the counts match, numbered otherwise
      const numbered = (n, p) => featureLabels(n, p);
      const queries = state.queries && state.queries.en.length === q.length ? state.queries : numbered(q.length, "q");
      const keys = state.keys && state.keys.en.length === k.length ? state.keys : numbered(k.length, "k");
      Object.assign(state, { q, k, v, dout, mask, scale, queries, keys, preset: -1 });
      recompute();
      render();
    },
    /** {weights, out, dq, dk, dv} for the current inputs, as arrays of arrays of numbers. */
    state() {
      return { weights: copy(state.f.P), out: copy(state.f.out), dq: copy(state.b.dq), dk: copy(state.b.dk), dv: copy(state.b.dv) };
    },
    // Not pinned, for teachers and tests: the online-softmax replay of one query row.
    onlineSoftmax(row, blockSize) {
      return onlineSoftmax(state.f.S[row], state.v, blockSize);
    },
  };
  window.gnpExplorer = api;

  loadPreset(0);
  wire();
  render();
})();
