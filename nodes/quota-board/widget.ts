/**
 * The quota-board's browser side: an AngularJS template and controller for Dashboard 1.
 *
 * Escaping: every piece of text (model names, usage, priority, breaker summary, labels) is
 * rendered with `ng-bind`, which sets textContent, so markup in a model name shows as text.
 * The template has no `{{ }}` interpolation, no ng-bind-html and no user-derived attribute;
 * the only dynamic styles are a colour from a fixed palette and a number (bar width),
 * both computed on the server (engine/dashboard/board.ts).
 */

export const BOARD_TEMPLATE = `<style>
.llm-quota-board{width:100%;font-size:13px;line-height:1.3}
.llm-quota-board .lqb-empty{opacity:.7;padding:6px 2px}
.llm-quota-board .lqb-row{padding:4px 2px 5px;border-bottom:1px solid rgba(128,128,128,.25)}
.llm-quota-board .lqb-head{display:flex;justify-content:space-between;align-items:baseline}
.llm-quota-board .lqb-model{font-weight:600;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;margin-right:8px}
.llm-quota-board .lqb-pct{font-weight:600;white-space:nowrap}
.llm-quota-board .lqb-bar{height:8px;border-radius:4px;background:rgba(128,128,128,.25);overflow:hidden;margin:3px 0}
.llm-quota-board .lqb-fill{height:100%;border-radius:4px}
.llm-quota-board .lqb-meta{font-size:11px;opacity:.85;display:flex;flex-wrap:wrap}
.llm-quota-board .lqb-meta > span{margin-right:10px}
</style>
<div class="llm-quota-board">
  <div class="lqb-empty" ng-if="!rows.length" ng-bind="labels.empty"></div>
  <div class="lqb-row" ng-repeat="r in rows track by r.key" ng-class="'lqb-state-' + r.state">
    <div class="lqb-head">
      <span class="lqb-model" ng-bind="r.model"></span>
      <span class="lqb-pct" ng-style="{color: r.color}" ng-bind="r.percentText"></span>
    </div>
    <div class="lqb-bar"><div class="lqb-fill" ng-style="{width: r.barWidth + '%', 'background-color': r.color}"></div></div>
    <div class="lqb-meta">
      <span class="lqb-used" ng-bind="r.usedText"></span>
      <span class="lqb-state" ng-style="{color: r.color}" ng-bind="labels.states[r.state] || r.state"></span>
      <span class="lqb-priority" ng-if="r.priority !== ''"><span ng-bind="labels.priority"></span> <span ng-bind="r.priority"></span></span>
      <span class="lqb-breaker" ng-if="r.breaker"><span ng-bind="labels.breaker"></span> <span ng-bind="r.breaker"></span></span>
    </div>
  </div>
</div>`;

/**
 * Runs in the browser: Dashboard 1 sends `initController.toString()` and evaluates it, so it
 * must not reference anything outside itself (plain ES5, no imports, no helpers).
 */
export function boardController($scope: any): void {
  $scope.rows = [];
  $scope.labels = { empty: '', priority: '', breaker: '', states: {} };
  $scope.$watch('msg', function (msg: any) {
    if (!msg) return;
    $scope.rows = Array.isArray(msg.payload) ? msg.payload : [];
    if (msg.labels && typeof msg.labels === 'object') $scope.labels = msg.labels;
  });
}
