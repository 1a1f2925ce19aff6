using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Xapi.Cqrs.Cli.Tests;

/// <summary>
/// A tiny Kestrel server on 127.0.0.1 answering the API.md shapes the CLI reads, with canned data.
/// Tokens: <see cref="AdminToken"/> may do anything, <see cref="ReadOnlyToken"/> may only read; anything else is 401.
/// </summary>
public sealed class ApiStub : IAsyncLifetime
{
    public const string AdminToken = "admin-token";
    public const string ReadOnlyToken = "readonly";

    public const string HostA = "11111111-1111-1111-1111-111111111111";
    public const string HostB = "22222222-2222-2222-2222-222222222222";
    public const string HaltedVm = "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa";   // web01
    public const string RunningVm = "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb";  // db01 on host-a
    public const string Twin1 = "cccccccc-cccc-cccc-cccc-cccccccccccc";      // two VMs named "twin"
    public const string Twin2 = "dddddddd-dddd-dddd-dddd-dddddddddddd";
    public const string BrokenVm = "eeeeeeee-eeee-eeee-eeee-eeeeeeeeeeee";   // answers 502 text/plain

    private const long GiB = 1L << 30;

    private WebApplication? _app;

    public string Url { get; private set; } = "";

    /// <summary>"METHOD /path?query" of every request that reached an endpoint, in order.</summary>
    public ConcurrentQueue<string> Requests { get; } = new();

    /// <summary>Bodies of POSTs, in order.</summary>
    public ConcurrentQueue<string> Bodies { get; } = new();

    public static readonly object[] Hosts =
    [
        Host(HostA, "host-a", live: true, total: 16 * GiB, free: 12 * GiB + GiB / 2, cpus: 8, resident: [RunningVm]),
        Host(HostB, "host-b", live: false, total: 8 * GiB, free: 8 * GiB, cpus: 4, resident: []),
    ];

    public static readonly Dictionary<string, object> Vms = new()
    {
        [HaltedVm] = Vm(HaltedVm, "web01", "Halted", residentOn: null, domid: -1, vcpus: 2, dynMin: GiB, dynMax: 2 * GiB),
        [RunningVm] = Vm(RunningVm, "db01", "Running", residentOn: HostA, domid: 7, vcpus: 4, dynMin: 4 * GiB, dynMax: 4 * GiB),
        [Twin1] = Vm(Twin1, "twin", "Halted", residentOn: null, domid: -1, vcpus: 1, dynMin: GiB, dynMax: GiB),
        [Twin2] = Vm(Twin2, "twin", "Halted", residentOn: null, domid: -1, vcpus: 1, dynMin: GiB, dynMax: GiB),
    };

    public async ValueTask InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();

        app.Use(async (context, next) =>
        {
            Requests.Enqueue($"{context.Request.Method} {context.Request.Path}{context.Request.QueryString}");
            var auth = context.Request.Headers.Authorization.ToString();
            IResult? refusal = auth switch
            {
                $"Bearer {AdminToken}" => null,
                $"Bearer {ReadOnlyToken}" when HttpMethods.IsGet(context.Request.Method) => null,
                $"Bearer {ReadOnlyToken}" => Problem(403, "RBAC_PERMISSION_DENIED", "vm.start", "read-only"),
                _ => Results.Problem(statusCode: 401, title: "Unauthorized"),
            };
            if (refusal is null)
            {
                await next(context);
            }
            else
            {
                await refusal.ExecuteAsync(context);
            }
        });

        app.MapGet("/api/hosts", () => Results.Json(Hosts));
        app.MapGet("/api/hosts/{id}", (string id) =>
            Hosts.FirstOrDefault(h => Id(h) == id) is { } h ? Results.Json(h) : Problem(404, "HANDLE_INVALID", "host", id));

        app.MapGet("/api/vms", (string? powerState, string? residentOn) =>
        {
            if (powerState is not (null or "Halted" or "Running" or "Paused" or "Suspended"))
            {
                return Results.ValidationProblem(
                    new Dictionary<string, string[]> { ["powerState"] = ["'Power State' must be one of Halted, Paused, Running, Suspended."] },
                    statusCode: 400,
                    extensions: new Dictionary<string, object?> { ["code"] = "INVALID_VALUE", ["params"] = new[] { "powerState", powerState } });
            }
            var vms = Vms.Values.Select(v => (JsonElement)JsonSerializer.SerializeToElement(v, JsonSerializerOptions.Web))
                .Where(v => powerState is null || v.GetProperty("powerState").GetString() == powerState)
                .Where(v => residentOn is null || v.GetProperty("residentOn").ToString() == residentOn);
            return Results.Json(vms);
        });
        app.MapGet("/api/vms/{id}", (string id) => id == BrokenVm
            ? Results.Text("upstream down", "text/plain", statusCode: 502)
            : Vms.TryGetValue(id, out var vm) ? Results.Json(vm) : Problem(404, "HANDLE_INVALID", "VM", id));

        app.MapPost("/api/vms/{id}/start", (string id, JsonElement body) => Start(id, HostA, body));
        app.MapPost("/api/vms/{id}/start-on", (string id, JsonElement body) =>
        {
            var host = body.GetProperty("host").GetString()!;
            return Hosts.Any(h => Id(h) == host) ? Start(id, host, body) : Problem(404, "HANDLE_INVALID", "host", host);
        });

        app.MapGet("/api/vms/{id}/history", (string id, string? at) =>
        {
            if (!Vms.ContainsKey(id))
            {
                return Problem(404, "HANDLE_INVALID", "VM", id);
            }
            if (at is not null)
            {
                return Results.Json(Vm(id, "web01-as-it-was", "Halted", residentOn: null, domid: -1, vcpus: 1, dynMin: GiB, dynMax: GiB));
            }
            return Results.Json(new object[]
            {
                Event(41, id, 1, "VmCreated", "2025-01-01T09:00:00Z", "alice", "corr-create"),
                Event(57, id, 2, "StartRequested", "2025-01-01T10:30:00Z", "bob", "corr-start"),
            });
        });

        await app.StartAsync(TestContext.Current.CancellationToken);
        Url = app.Urls.Single();
        _app = app;
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }

    private IResult Start(string id, string host, JsonElement body)
    {
        Bodies.Enqueue(body.GetRawText());
        if (!Vms.TryGetValue(id, out var vm))
        {
            return Problem(404, "HANDLE_INVALID", "VM", id);
        }
        var current = JsonSerializer.SerializeToElement(vm, JsonSerializerOptions.Web);
        if (current.GetProperty("powerState").GetString() != "Halted")
        {
            return Problem(409, "VM_BAD_POWER_STATE", id, "halted", current.GetProperty("powerState").GetString()!.ToLowerInvariant());
        }
        var paused = body.TryGetProperty("paused", out var p) && p.GetBoolean();
        return Results.Json(Vm(id, current.GetProperty("nameLabel").GetString()!, paused ? "Paused" : "Running",
            residentOn: host, domid: 12, vcpus: 2, dynMin: GiB, dynMax: 2 * GiB));
    }

    private static IResult Problem(int status, string code, params string[] parameters) =>
        Results.Problem(statusCode: status, extensions: new Dictionary<string, object?> { ["code"] = code, ["params"] = parameters });

    private static string Id(object o) => JsonSerializer.SerializeToElement(o, JsonSerializerOptions.Web).GetProperty("id").GetString()!;

    private static object Host(string id, string name, bool live, long total, long free, int cpus, string[] resident) => new
    {
        id,
        nameLabel = name,
        enabled = true,
        live,
        memoryTotal = total,
        memoryOverhead = 256L << 20,
        memoryFree = free,
        residentVms = resident,
        scheduledVms = Array.Empty<string>(),
        currentOperations = new Dictionary<string, string>(),
        cpuCount = cpus,
    };

    private static object Vm(string id, string name, string powerState, string? residentOn, long domid, int vcpus, long dynMin, long dynMax) => new
    {
        id,
        nameLabel = name,
        powerState,
        allowedOperations = powerState == "Halted" ? new[] { "start", "start_on", "destroy" } : ["hard_shutdown", "pause"],
        currentOperations = new Dictionary<string, string>(),
        residentOn,
        scheduledToBeResidentOn = (string?)null,
        affinity = (string?)null,
        domid,
        memoryOverhead = 8L << 20,
        vcpusMax = vcpus,
        vcpusAtStartup = vcpus,
        memoryStaticMin = dynMin,
        memoryDynamicMin = dynMin,
        memoryDynamicMax = dynMax,
        memoryStaticMax = dynMax,
        domainType = "hvm",
        vbds = new[] { "99999999-0000-0000-0000-000000000001" },
        vifs = Array.Empty<string>(),
        version = 3,
    };

    private static object Event(long seq, string stream, long version, string type, string at, string actor, string correlationId) =>
        new { seq, stream, version, type, at, actor, correlationId, data = new { } };
}
