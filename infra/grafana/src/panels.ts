import { DataqueryBuilder } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as StatBuilder } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as TimeseriesBuilder } from '@grafana/grafana-foundation-sdk/timeseries';

/** The provisioned Prometheus datasource (fixed uid, see provisioning/datasources). */
export const PROMETHEUS = { type: 'prometheus', uid: 'tailspin-prometheus' };

/** One query of a panel; `legend` uses Grafana's `{{label}}` syntax. */
export interface Query {
  readonly expr: string;
  readonly legend?: string;
}

function target(query: Query, index: number): DataqueryBuilder {
  const builder = new DataqueryBuilder().expr(query.expr).refId(String.fromCharCode(65 + index)).datasource(PROMETHEUS);
  return query.legend !== undefined ? builder.legendFormat(query.legend) : builder;
}

/** A time series panel. */
export function series(title: string, unit: string, queries: readonly Query[], width = 12): TimeseriesBuilder {
  const panel = new TimeseriesBuilder().title(title).unit(unit).datasource(PROMETHEUS).height(8).span(width).lineWidth(1).fillOpacity(10);
  queries.forEach((query, i) => panel.withTarget(target(query, i)));
  return panel;
}

/** A single-number panel. */
export function stat(title: string, unit: string, query: Query, width = 6): StatBuilder {
  return new StatBuilder().title(title).unit(unit).datasource(PROMETHEUS).height(4).span(width).withTarget(target(query, 0));
}
