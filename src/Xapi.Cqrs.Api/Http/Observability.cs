using Marten;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Xapi.Cqrs.Application.Admin;
using Xapi.Cqrs.Application.Telemetry;
using Xapi.Cqrs.Domain;

namespace Xapi.Cqrs.Api.Http;

/// <summary>
/// Exports the service's instruments (<see cref="XapiTelemetry"/>, BCL only in the layers below) with OpenTelemetry:
/// <list type="bullet">
/// <item>metrics at <c>GET /metrics</c> in Prometheus text format (with ASP.NET Core's request metrics);</item>
/// <item>traces over OTLP, only when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set (the exporter reads the standard
/// <c>OTEL_*</c> variables: endpoint, protocol, headers, <c>OTEL_SERVICE_NAME</c>…); off by default.</item>
/// </list>
/// <para><b>/metrics needs no token by default.</b> Prometheus scrapes without credentials by convention, the service binds
/// 127.0.0.1 unless told otherwise, and the metrics hold only counts, durations and host ids: no names, tokens, params
/// or anything a read-only token could not already read. Where the port is reachable by people who should not see even
/// that, <c>Xapi:Metrics:RequireToken=true</c> asks for a bearer token of any role (401 otherwise), which Prometheus
/// sends with <c>authorization: {credentials: …}</c> in its scrape config.</para>
/// </summary>
public static class Observability
{
    public const string MetricsPath = "/metrics";

    public static void AddXapiObservability(this WebApplicationBuilder builder)
    {
        var otel = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r =>
            {
                if (string.IsNullOrWhiteSpace(builder.Configuration["OTEL_SERVICE_NAME"]))
                {
                    r.AddService("xapi-cqrs");
                }
            })
            .WithMetrics(m => m.AddMeter(XapiTelemetry.Name).AddAspNetCoreInstrumentation().AddPrometheusExporter());
        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            otel.WithTracing(t => t
                .AddSource(XapiTelemetry.Name)
                .AddAspNetCoreInstrumentation(o => o.Filter = http => !http.Request.Path.StartsWithSegments(MetricsPath) && !http.Request.Path.StartsWithSegments("/health"))
                .AddOtlpExporter());
        }

        var every = builder.Configuration.GetValue<TimeSpan?>("Xapi:Metrics:SampleEvery") ?? TimeSpan.FromSeconds(5);
        builder.Services.AddHostedService(sp => new StoreGauges(sp.GetRequiredService<IDocumentStore>(), sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<StoreGauges>>(), every));
    }

    /// <summary>Maps /metrics; with Xapi:Metrics:RequireToken=true a scrape needs a known bearer token (any role).</summary>
    public static void MapXapiMetrics(this WebApplication app)
    {
        if (app.Configuration.GetValue<bool>("Xapi:Metrics:RequireToken"))
        {
            app.Use(async (http, next) =>
            {
                if (http.Request.Path.StartsWithSegments(MetricsPath))
                {
                    var header = http.Request.Headers.Authorization.ToString();
                    var token = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header["Bearer ".Length..].Trim() : "";
                    if (token.Length is 0 or > 512 || await http.RequestServices.GetRequiredService<TokenStore>().FindAsync(token, http.RequestAborted) is null)
                    {
                        http.Response.Headers.WWWAuthenticate = "Bearer";
                        await Problems.WriteAsync(http, 401, ErrorCodes.SessionAuthenticationFailed, [], "Xapi:Metrics:RequireToken is set: a bearer token is required.");
                        return;
                    }
                }

                await next(http);
            });
        }

        app.MapPrometheusScrapingEndpoint(MetricsPath);
    }
}
