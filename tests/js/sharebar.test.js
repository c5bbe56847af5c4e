// Unit tests of the widget's pure functions, run by Node's own test runner:
//   node --test tests/js/
// sharebar.js, sharebar-share.js and sharebar-counts.js export them to Node before they touch
// any browser API.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { list, filterQuery, cleanUrl, fillTemplate, langIndex } = require('../../static/sharebar.js');
const { refusal } = require('../../static/sharebar-share.js');
const { fmt } = require('../../static/sharebar-counts.js');

const TRACKING = /^(utm_\w+|fbclid|gclid|_sb)$/;

test('share URLs: every value encoded, empty parameters dropped', () => {
  const o = { url: 'https://example.com/a?b=1&c=2#f', title: 'Hello & 你好', summary: '', via: '', hashtags: [] };
  assert.equal(
    fillTemplate('https://x.com/intent/tweet?url={url}&text={title}&via={via}&hashtags={hashtags}', o),
    'https://x.com/intent/tweet?url=https%3A%2F%2Fexample.com%2Fa%3Fb%3D1%26c%3D2%23f&text=Hello%20%26%20%E4%BD%A0%E5%A5%BD');
});

test('share URLs: hashtags comma-joined, Weibo topics and mentions by its conventions', () => {
  const o = { url: 'https://e.com/', title: 'T', via: 'me', hashtags: ['a', 'b'] };
  assert.equal(fillTemplate('https://x.com/i?hashtags={hashtags}&via={via}', o), 'https://x.com/i?hashtags=a%2Cb&via=me');
  assert.equal(fillTemplate('https://w/s?title={title}{tags_weibo}{via_at}', o),
    'https://w/s?title=T%20%23a%23%20%23b%23%20%40me');
});

test('share URLs: an unknown placeholder or a missing template gives nothing unsafe', () => {
  assert.equal(fillTemplate('https://a/?x={nope}&u={url}', { url: 'u' }), 'https://a/?u=u');
  assert.equal(fillTemplate(undefined, { url: 'u' }), '');
});

test('URL cleaning: tracking parameters and the fragment go, the rest keeps its raw encoding', () => {
  assert.equal(cleanUrl('https://e.com/p?utm_source=x&id=%E4%BD%A0&fbclid=1#top', TRACKING), 'https://e.com/p?id=%E4%BD%A0');
  assert.equal(cleanUrl('https://e.com/p?_sb=abc', TRACKING), 'https://e.com/p');
  assert.equal(cleanUrl('https://e.com/p', TRACKING), 'https://e.com/p');
  assert.equal(filterQuery('https://e.com/?a=1&&b=', p => !p.endsWith('=')), 'https://e.com/?a=1');
});

test('lists: comma strings or arrays, "#" and "@" taken off, blanks dropped', () => {
  assert.deepEqual(list(' #a, @b,,c '), ['a', 'b', 'c']);
  assert.deepEqual(list(['x', ' #y']), ['x', 'y']);
  assert.deepEqual(list(undefined), []);
});

test('language choice: Chinese scripts and regions, English, and nothing else', () => {
  const cases = [['zh-CN', 0], ['zh', 0], ['zh-Hans-CN', 0], ['zh-TW', 1], ['zh-HK', 1], ['zh-Hant', 1],
    ['ZH-tw', 1], ['en', 2], ['en-GB', 2], ['fr', -1], ['', -1], [undefined, -1], ['english', -1]];
  for (const [given, expected] of cases) assert.equal(langIndex(given), expected, String(given));
});

test('count formatting by language', () => {
  const cases = [
    [999, 2, '999'], [1000, 2, '1k'], [1250, 2, '1.3k'], [999950, 2, '1M'], [3400000, 2, '3.4M'],
    [9999, 0, '9999'], [12000, 0, '1.2万'], [340000000, 0, '3.4亿'],
    [12000, 1, '1.2萬'], [340000000, 1, '3.4億'], [0, 0, '0'],
  ];
  for (const [n, L, expected] of cases) assert.equal(fmt(n, L), expected, `${n} in ${L}`);
});

test('refusals: the owner is told why and what to do for a domain or key reason, and only then', () => {
  const problem = code => ({ type: `https://sharebar.invalid/problems/${code}`, detail: `Because ${code}.` });
  for (const code of ['foreign-domain', 'foreign-origin', 'invalid-site-key', 'unknown-site']) {
    assert.equal(refusal(problem(code)), `Because ${code}. (${code})`);
  }
  for (const code of ['rate-limited', 'invalid-beacon', 'unknown-service', 'not-foreign-domain-x']) {
    assert.equal(refusal(problem(code)), '', code);
  }
  for (const odd of [null, undefined, {}, { type: 42 }, 'foreign-domain']) assert.equal(refusal(odd), '');
});
