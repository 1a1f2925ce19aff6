using System.Text.Json.Serialization;
using Marten;
using Xapi.Cqrs.Api.Endpoints;
using Xapi.Cqrs.Api.Http;
using Xapi.Cqrs.Api.Startup;
using Xapi.Cqrs.Api.WebConsole;
using Xapi.Cqrs.Application.Admin;
using HostDefaults = Xapi.Cqrs.Application.Hosts.HostDefaults;
using Xapi.Cqrs.Application.Pipeline;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.HostAgent.Agents;
using Host = Xapi.Cqrs.Domain.Hosts.Host;

namespace Xapi.Cqrs.Api;

/// <summary>Composition of the service: configuration, store, pipeline, HTTP conventions and endpoints.</summary>
public static class XapiApp
{
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        configure?.Invoke(builder);
        var options = builder.Configuration.GetSection("Xapi").Get<XapiOptions>() ?? new XapiOptions();
        var connectionString = builder.Configuration.GetConnectionString("EventStore");
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw new InvalidOperationException(
                "ConnectionStrings:EventStore is not set. Start the service with ops/run (which starts a private PostgreSQL), " +
                "or pass --ConnectionStrings:EventStore=\"Host=…;Database=…;Username=…\".");
        }

        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(new HostDefaults(options.Hypervisor));
        builder.Services.AddSingleton(HostAgent.Hypervisor.SimulatorSettings.UnderDataDir(options.DataDir));
        builder.Services.AddSingleton(HostAgent.Hypervisor.Qemu.QemuSettings.UnderDataDir(options.DataDir));
        var node = NodeIdentity.From(builder.Configuration["Xapi:NodeName"], builder.Configuration["urls"]);
        var marten = builder.Services.AddXapiStore(new StoreSettings(connectionString, options.Schema), node);
        var deadlines = Application.Admin.OperationDeadlines.From(builder.Configuration);
        builder.Services.AddSingleton(deadlines);
        builder.Services.AddHostAgents(marten, AgentSettings.From(builder.Configuration, deadlines));
        builder.Services.AddSingleton(new Application.Vms.PlacementSettings(options.Seed,
            builder.Configuration.GetValue<TimeSpan?>("Xapi:Placement:DecideWithin")));
        builder.Services.AddSingleton(new Application.Vms.RetentionSettings(
            builder.Configuration.GetValue<bool?>("Xapi:Retention:ArchiveDestroyed") ?? true,
            builder.Configuration.GetValue<TimeSpan?>("Xapi:Retention:Sweep")));
        builder.Services.AddXapiApplication();
        builder.Services.AddSingleton(Application.Hosts.LivenessSettings.From(builder.Configuration));
        builder.Services.AddHostedService<Application.Hosts.HostLiveness>();
        builder.Services.AddSingleton<TokenStore>();
        builder.Services.AddSingleton<IdempotencyStore>();
        builder.Services.AddHostedService<AdminToken>();
        builder.Services.AddHostedService<DemoPool>();
        builder.Services.AddXapiApiDescription();
        builder.AddXapiObservability();
        builder.Services.AddSingleton(new EventStreamSettings
        {
            MaxClients = builder.Configuration.GetValue<int?>("Xapi:Events:MaxClients") ?? 64,
        });
        builder.Services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        builder.Services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.Converters.Add(new JsonStringEnumConverter());
            o.SerializerOptions.NumberHandling = JsonNumberHandling.Strict;
        });
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = 1 << 20);

        var app = builder.Build();
        app.Use(async (http, next) =>
        {
            Correlation.For(http);
            try
            {
                await next(http);
                if (http.Response is { StatusCode: 413, HasStarted: false })
                {
                    // Minimal APIs answer an oversized body with a bare 413; give it the problem body.
                    await Problems.WriteAsync(http, 413, Domain.ErrorCodes.InvalidValue, ["body", "too large"], "The request body is larger than 1 MiB.");
                }
            }
            catch (Exception e)
            {
                await Problems.HandleAsync(http, e, app.Logger);
            }
        });
        app.UseWebConsole();
        app.UseRouting();
        app.Use(Auth.Middleware);
        app.Use(async (http, next) =>
        {
            var context = http.RequestServices.GetRequiredService<CommandContext>();
            context.CorrelationId = (string)http.Items[Correlation.ItemKey]!;
            System.Diagnostics.Activity.Current?.SetTag("xapi.correlation_id", context.CorrelationId);
            if (http.Items.TryGetValue(Auth.CallerKey, out var caller))
            {
                context.Subject = ((Caller)caller!).Subject;
            }

            await next(http);
        });
        app.Use(Idempotency.Middleware);
        app.MapXapiMetrics();

        app.MapGet("/health", async (IQuerySession session, CancellationToken ct) =>
        {
            try
            {
                await session.Query<Host>().AnyAsync(ct);
                return Results.Ok(new { status = "ok" });
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                return Results.Json(new { status = "unavailable", detail = "the event store is not reachable" }, statusCode: 503);
            }
        });
        app.MapXapiApiDescription();
        app.MapInventory();
        app.MapHosts();
        app.MapVms();
        app.MapVbds();
        app.MapVifs();
        app.MapTasks();
        app.MapMessages();
        app.MapAdmin();
        app.MapHypervisor();
        app.MapEvents();
        app.MapFallback("/api/{**rest}", (HttpContext http) =>
            Problems.WriteAsync(http, 404, Domain.ErrorCodes.HandleInvalid, ["path", http.Request.Path.ToString()], "No such API path."));
        return app;
    }
}
