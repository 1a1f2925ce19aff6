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
    public const string PausedVm = "ffffffff-ffff-ffff-ffff-ffffffffffff";   // app01, paused on host-a

    public const string Disk1 = "d1d1d1d1-0000-0000-0000-000000000001";      // VDI "disk1"
    public const string Iso = "d1d1d1d1-0000-0000-0000-000000000002";        // VDI "iso"
    public const string Scratch1 = "d1d1d1d1-0000-0000-0000-000000000003";   // two VDIs named "scratch"
    public const string Scratch2 = "d1d1d1d1-0000-0000-0000-000000000004";

    public const string PluggedVbd = "b0b0b0b0-0000-0000-0000-000000000001";   // db01's userdevice 0, attached
    public const string UnpluggedVbd = "b0b0b0b0-0000-0000-0000-000000000002"; // db01's userdevice 1, not attached
    public const string PluggedVif = "f0f0f0f0-0000-0000-0000-000000000001";   // db01's device 0, attached
    public const string UnpluggedVif = "f0f0f0f0-0000-0000-0000-000000000002"; // db01's device 1, not attached

    private const long GiB = 1L << 30;

    public const string RebuildVmsTask = "7a7a7a7a-0000-0000-0000-000000000001";
    public const string RebuildHostsTask = "7a7a7a7a-0000-0000-0000-000000000002";
    public const string FailingTask = "7a7a7a7a-0000-0000-0000-00000000000f";

    public static readonly (string name, string kind, long position, long highWaterMark, long lag, string status, int version)[] ProjectionRows =
    [
        ("vms", "inline", 3, 3, 0, "running", 2),
        ("hosts", "async", 2, 3, 1, "running", 1),
    ];

    private static readonly object[] Projections = [.. ProjectionRows.Select(p => new { p.name, p.kind, p.position, p.highWaterMark, p.lag, p.status, p.version })];

    public sealed record LogRow(long Seq, string Stream, long Version, string Type, string At, string Actor, string CorrelationId, object Data);

    public static readonly LogRow[] LogEvents =
    [
        new(1, HaltedVm, 1, "vm_created", "2025-01-01T09:00:00Z", "alice", "corr-1", new { nameLabel = "web01" }),
        new(2, HaltedVm, 2, "operation_added", "2025-01-01T09:00:01Z", "bob", "corr-2", new { op = "start" }),
        new(3, HostA, 7, "host_chosen", "2025-01-01T09:00:02Z", "bob", "corr-2", new { }),
    ];

    /// <summary>The ?after= of every connection to the event stream, in order.</summary>
    public ConcurrentQueue<long> EventConnections { get; } = new();

    /// <summary>Released once per event stream answered in full.</summary>
    public SemaphoreSlim EventStreamServed { get; } = new(0);

    private WebApplication? _app;

    public string Url { get; private set; } = "";

    /// <summary>"METHOD /path?query" of every request that reached an endpoint, in order.</summary>
    public ConcurrentQueue<string> Requests { get; } = new();

    /// <summary>Bodies of POSTs, in order.</summary>
    public ConcurrentQueue<string> Bodies { get; } = new();

    /// <summary>Every POST that passed the token check, with its body as sent ("" for none), in order.</summary>
    public ConcurrentQueue<Post> Posts { get; } = new();

    /// <summary>VBDs made by POST /api/vms/{id}/vbds on this stub (readable by GET /api/vbds/{id}).</summary>
    private readonly ConcurrentDictionary<string, object> _createdVbds = new();

    private int _vbdsCreated;

    /// <summary>The id the last POST /api/vms/{id}/vbds answered.</summary>
    public string? LastCreatedVbd { get; private set; }

    public static readonly object[] Hosts =
    [
        Host(HostA, "host-a", live: true, total: 16 * GiB, free: 12 * GiB + GiB / 2, cpus: 8, resident: [RunningVm, PausedVm]),
        Host(HostB, "host-b", live: false, total: 8 * GiB, free: 8 * GiB, cpus: 4, resident: []),
    ];

    public static readonly Dictionary<string, object> Vms = new()
    {
        [HaltedVm] = Vm(HaltedVm, "web01", "Halted", residentOn: null, domid: -1, vcpus: 2, dynMin: GiB, dynMax: 2 * GiB),
        [RunningVm] = Vm(RunningVm, "db01", "Running", residentOn: HostA, domid: 7, vcpus: 4, dynMin: 4 * GiB, dynMax: 4 * GiB),
        [Twin1] = Vm(Twin1, "twin", "Halted", residentOn: null, domid: -1, vcpus: 1, dynMin: GiB, dynMax: GiB),
        [Twin2] = Vm(Twin2, "twin", "Halted", residentOn: null, domid: -1, vcpus: 1, dynMin: GiB, dynMax: GiB),
        [PausedVm] = Vm(PausedVm, "app01", "Paused", residentOn: HostA, domid: 9, vcpus: 1, dynMin: GiB, dynMax: GiB),
    };

    /// <summary>The serial console of db01 on host-a (GET …/hypervisor/consoles/{vm}); it holds markup-like brackets.</summary>
    public const string ConsoleLog = "SeaBIOS (version 1.16)\nBooting from ROM...\n[    0.000000] Linux version 6.1.0\nXAPI-GUEST-UP\n";

    public static readonly object[] Vdis =
    [
        Vdi(Disk1, "disk1", readOnly: false),
        Vdi(Iso, "iso", readOnly: true),
        Vdi(Scratch1, "scratch", readOnly: false),
        Vdi(Scratch2, "scratch", readOnly: false),
    ];

    public static readonly Dictionary<string, object> Vbds = new()
    {
        [PluggedVbd] = Vbd(PluggedVbd, RunningVm, Disk1, "0", "xvda", "RW", attached: true),
        [UnpluggedVbd] = Vbd(UnpluggedVbd, RunningVm, Iso, "1", "xvdb", "RO", attached: false),
    };

    public static readonly Dictionary<string, object> Vifs = new()
    {
        [PluggedVif] = Vif(PluggedVif, RunningVm, "0", "00:16:3e:12:34:56", attached: true),
        [UnpluggedVif] = Vif(UnpluggedVif, RunningVm, "1", "00:16:3e:65:43:21", attached: false),
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
                if (HttpMethods.IsPost(context.Request.Method))
                {
                    context.Request.EnableBuffering();
                    using var reader = new StreamReader(context.Request.Body, leaveOpen: true);
                    var body = await reader.ReadToEndAsync(context.RequestAborted);
                    context.Request.Body.Position = 0;
                    Bodies.Enqueue(body);
                    Posts.Enqueue(new Post($"POST {context.Request.Path}{context.Request.QueryString}", body));
                }
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

        // clean-shutdown, hard-shutdown, clean-reboot, hard-reboot, pause, unpause, destroy (start and start-on are literal routes, which win)
        app.MapPost("/api/vms/{id}/{call}", (string id, string call) => Lifecycle(id, call));

        app.MapGet("/api/hosts/{id}/hypervisor/consoles/{vm}", (string id, string vm, int? tail) =>
            id == HostA && vm == RunningVm
                ? Results.Text(tail is { } t ? ConsoleLog[^Math.Min(t, ConsoleLog.Length)..] : ConsoleLog, "text/plain; charset=utf-8")
                : Problem(404, "HANDLE_INVALID", "console", vm));

        app.MapGet("/api/vdis", () => Results.Json(Vdis));

        app.MapPost("/api/vms/{id}/vbds", (string id, JsonElement body) => CreateVbd(id, body));
        app.MapGet("/api/vbds/{id}", (string id) =>
            Vbds.TryGetValue(id, out var vbd) || _createdVbds.TryGetValue(id, out vbd) ? Results.Json(vbd) : Problem(404, "HANDLE_INVALID", "VBD", id));
        app.MapPost("/api/vbds/{id}/{call}", (string id, string call) =>
            Vbds.TryGetValue(id, out var vbd) ? Plug(id, call, vbd, "VBD") : Problem(404, "HANDLE_INVALID", "VBD", id));
        app.MapPost("/api/vifs/{id}/{call}", (string id, string call) =>
            Vifs.TryGetValue(id, out var vif) ? Plug(id, call, vif, "VIF") : Problem(404, "HANDLE_INVALID", "VIF", id));

        // Two pages: the first answers a Link to the second (after=41), as the real server pages by sequence.
        app.MapGet("/api/vms/{id}/history", (string id, string? at, long? after, HttpContext http) =>
        {
            if (!Vms.ContainsKey(id))
            {
                return Problem(404, "HANDLE_INVALID", "VM", id);
            }
            if (at is not null)
            {
                return Results.Json(Vm(id, "web01-as-it-was", "Halted", residentOn: null, domid: -1, vcpus: 1, dynMin: GiB, dynMax: GiB));
            }
            if (after is null)
            {
                http.Response.Headers.Link = $"</api/vms/{id}/history?after=41>; rel=\"next\"";
                return Results.Json(new object[] { Event(41, id, 1, "VmCreated", "2025-01-01T09:00:00Z", "alice", "corr-create") });
            }
            return Results.Json(after < 57
                ? new object[] { Event(57, id, 2, "StartRequested", "2025-01-01T10:30:00Z", "bob", "corr-start") }
                : []);
        });

        // Explain (the lead's contract): web01 started twice: on host-a (reproduced today), then refused by memory
        // on host-b and failed at the host (today's placement would choose otherwise).
        app.MapGet("/api/vms/{id}/history/explain", (string id) => id != HaltedVm ? Problem(404, "HANDLE_INVALID", "VM", id) : Results.Json(new
        {
            vm = id,
            starts = new object[]
            {
                new
                {
                    taskId = "5a5a0000-0000-0000-0000-000000000001", operation = "start", requestedAt = "2025-01-01T10:30:00Z",
                    actor = new { subject = "bob", role = "vm-operator" }, correlationId = "corr-start", requestedHost = (string?)null,
                    paused = false, seed = 42, memoryRequired = 2L * GiB + (8L << 20), category = "definite",
                    candidates = new object[]
                    {
                        new { host = HostA, nameLabel = "host-a", category = "definite", value = 10L * GiB, refused = (object?)null },
                        new { host = HostB, nameLabel = "host-b", category = (string?)null, value = (long?)null, refused = new { code = "HOST_NOT_LIVE", @params = new[] { HostB } } },
                    },
                    chosenHost = HostA,
                    steps = new object[]
                    {
                        new { type = "domain_created", at = "2025-01-01T10:30:00.100Z", durationMs = 80.0 },
                        new { type = "domain_unpaused", at = "2025-01-01T10:30:01.600Z", durationMs = 1500.0 },
                    },
                    outcome = new { status = "running", code = (string?)null, @params = Array.Empty<string>(), at = "2025-01-01T10:30:01.700Z" },
                    replay = new { reproduced = true, host = HostA, note = (string?)null },
                },
                new
                {
                    taskId = "5a5a0000-0000-0000-0000-000000000002", operation = "start_on", requestedAt = "2025-01-02T08:00:00Z",
                    actor = new { subject = "carol", role = "pool-admin" }, correlationId = "corr-again", requestedHost = HostB,
                    paused = true, seed = 7, memoryRequired = 2L * GiB, category = "definite",
                    candidates = new object[] { new { host = HostB, nameLabel = "host-b", category = "definite", value = 1L * GiB, refused = (object?)null } },
                    chosenHost = HostB,
                    steps = Array.Empty<object>(),
                    outcome = new { status = "failed", code = "VM_BUILD_FAILED", @params = new[] { "create", "out of memory" }, at = "2025-01-02T08:00:00.500Z" },
                    replay = new { reproduced = false, host = (string?)null, note = "HOST_NOT_LIVE on host-b today" },
                },
            },
        }));

        // Projections: two read models; a rebuild's task moves 0 → 0.5 → done as the client asks for newer versions.
        app.MapGet("/api/admin/projections", () => Results.Json(Projections));
        app.MapPost("/api/admin/projections/{name}/rebuild", (string name) =>
        {
            if (!ProjectionRows.Any(p => p.name == name))
            {
                return Problem(404, "HANDLE_INVALID", "projection", name);
            }
            var taskId = name == "vms" ? RebuildVmsTask : RebuildHostsTask;
            return Results.Accepted($"/api/tasks/{taskId}", new { taskId });
        });
        app.MapGet("/api/tasks/{id}", (string id, long? minVersion) =>
        {
            if (id == FailingTask)
            {
                return Results.Json(TaskRecord(id, "VM.start", 1, "failure", 1.0, null, ["HOST_NOT_ENOUGH_FREE_MEMORY", "2147483648", "1073741824"]));
            }
            if (id != RebuildVmsTask && id != RebuildHostsTask)
            {
                return Problem(404, "HANDLE_INVALID", "task", id);
            }
            var version = Math.Clamp(minVersion ?? 2, 2, 4);
            var result = id == RebuildVmsTask ? """{"documents":1200,"events":36000,"seconds":2.4}""" : """{"documents":4,"events":400,"seconds":0.5}""";
            return Results.Json(version switch
            {
                2 => TaskRecord(id, "projection.rebuild", 2, "pending", 0.0, null, []),
                3 => TaskRecord(id, "projection.rebuild", 3, "pending", 0.5, null, []),
                _ => TaskRecord(id, "projection.rebuild", 4, "success", 1.0, result, []),
            });
        });

        // The event log as server-sent events: seq 1..3 after ?after=, then the stream is closed (a client that
        // follows connects again after the last id it saw; EventConnections counts the connections).
        app.MapGet("/api/events/stream", async (long? after, HttpContext http) =>
        {
            EventConnections.Enqueue(after ?? 0);
            http.Response.ContentType = "text/event-stream";
            await http.Response.WriteAsync(": the log from the start\n\n", http.RequestAborted);
            foreach (var e in LogEvents.Where(e => e.Seq > (after ?? 0)))
            {
                var data = JsonSerializer.Serialize(e, JsonSerializerOptions.Web);
                await http.Response.WriteAsync($"id: {e.Seq}\nevent: {e.Type}\ndata: {data}\n\n", http.RequestAborted);
            }
            await http.Response.Body.FlushAsync(http.RequestAborted);
            EventStreamServed.Release();
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

    /// <summary>A lifecycle call on a canned VM: the record it would have afterwards (the canned data stays as it is), or xapi's refusal.</summary>
    private static IResult Lifecycle(string id, string call)
    {
        if (!Vms.TryGetValue(id, out var vm))
        {
            return Problem(404, "HANDLE_INVALID", "VM", id);
        }
        (string[] From, string? To)? rule = call switch
        {
            "clean-shutdown" => (["Running"], "Halted"),
            "hard-shutdown" => (["Running", "Paused"], "Halted"),
            "clean-reboot" or "hard-reboot" => (["Running"], "Running"),
            "pause" => (["Running"], "Paused"),
            "unpause" => (["Paused"], "Running"),
            "destroy" => (["Halted", "Suspended"], null),
            _ => null,
        };
        if (rule is not var (from, to))
        {
            return Results.NotFound();
        }
        var v = Read(vm);
        var state = Text(v, "powerState")!;
        if (!from.Contains(state))
        {
            return Problem(409, "VM_BAD_POWER_STATE", id, from[0].ToLowerInvariant(), state.ToLowerInvariant());
        }
        if (to is null)
        {
            return Results.Ok(); // destroy: 200, nothing to read any more
        }
        var domid = v.GetProperty("domid").GetInt64();
        return Results.Json(Vm(id, Text(v, "nameLabel")!, to,
            residentOn: to == "Halted" ? null : Text(v, "residentOn"),
            domid: to == "Halted" ? -1 : call.EndsWith("reboot", StringComparison.Ordinal) ? domid + 1 : domid,
            vcpus: v.GetProperty("vcpusMax").GetInt32(), dynMin: v.GetProperty("memoryDynamicMin").GetInt64(), dynMax: v.GetProperty("memoryDynamicMax").GetInt64()));
    }

    /// <summary>Plug or unplug a canned device: the record with currentlyAttached flipped, or xapi's refusal.</summary>
    private static IResult Plug(string id, string call, object device, string kind)
    {
        var record = Read(device).EnumerateObject().ToDictionary(p => p.Name, p => p.Value);
        var attached = record["currentlyAttached"].GetBoolean();
        record["currentlyAttached"] = JsonSerializer.SerializeToElement(call == "plug");
        return call switch
        {
            "plug" when attached => Problem(409, "DEVICE_ALREADY_ATTACHED", id),
            "unplug" when !attached => Problem(409, "DEVICE_ALREADY_DETACHED", id),
            "plug" or "unplug" => Results.Json(record),
            _ => Problem(404, "HANDLE_INVALID", kind, id),
        };
    }

    /// <summary>POST /api/vms/{id}/vbds: autodetect takes userdevice 2 on db01 (0 and 1 are taken), 0 elsewhere; plugged if asked and the VM runs.</summary>
    private IResult CreateVbd(string vmId, JsonElement body)
    {
        if (!Vms.TryGetValue(vmId, out var vm))
        {
            return Problem(404, "HANDLE_INVALID", "VM", vmId);
        }
        var vdi = Text(body, "vdiId")!;
        if (!Vdis.Any(d => Id(d) == vdi))
        {
            return Problem(404, "HANDLE_INVALID", "VDI", vdi);
        }
        var taken = Vbds.Values.Select(Read).Where(b => Text(b, "vm") == vmId).Select(b => Text(b, "userdevice")).ToHashSet();
        var asked = Text(body, "userdevice")!;
        var userdevice = asked == "autodetect"
            ? Enumerable.Range(0, 16).Select(n => n.ToString(System.Globalization.CultureInfo.InvariantCulture)).First(n => !taken.Contains(n))
            : asked;
        if (taken.Contains(userdevice))
        {
            return Problem(409, "DEVICE_ALREADY_EXISTS", userdevice);
        }
        var id = $"0b0b0b0b-0000-0000-0000-{Interlocked.Increment(ref _vbdsCreated):D12}";
        var plugged = body.GetProperty("plug").GetBoolean() && Text(Read(vm), "powerState") == "Running";
        _createdVbds[id] = Vbd(id, vmId, vdi, userdevice, plugged ? $"xvd{(char)('a' + int.Parse(userdevice, System.Globalization.CultureInfo.InvariantCulture))}" : "",
            Text(body, "mode")!, plugged);
        LastCreatedVbd = id;
        return Results.Created($"/api/vbds/{id}", new { id, version = 1 });
    }

    private static JsonElement Read(object o) => JsonSerializer.SerializeToElement(o, JsonSerializerOptions.Web);

    private static string? Text(JsonElement e, string property) => e.GetProperty(property).GetString();

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

    private static object TaskRecord(string id, string name, long version, string status, double progress, string? result, string[] errorInfo) => new
    {
        id,
        name,
        status,
        progress,
        step = status == "pending" ? "rebuilding" : "",
        created = "2025-01-01T09:00:00Z",
        finished = status == "pending" ? null : "2025-01-01T09:00:03Z",
        result,
        errorInfo,
        version,
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

    private static object Vdi(string id, string name, bool readOnly) => new
    {
        id,
        srId = "5a5a5a5a-0000-0000-0000-000000000001",
        nameLabel = name,
        virtualSize = 10 * GiB,
        readOnly,
        sharable = false,
    };

    private static object Vbd(string id, string vm, string vdi, string userdevice, string device, string mode, bool attached) => new
    {
        id,
        vm,
        vdi,
        userdevice,
        device,
        mode,
        type = "Disk",
        bootable = false,
        empty = false,
        unpluggable = true,
        currentlyAttached = attached,
        allowedOperations = attached ? new[] { "unplug" } : ["plug", "destroy"],
        currentOperations = new Dictionary<string, string>(),
        statusCode = 0,
        statusDetail = "",
        version = 2,
    };

    private static object Vif(string id, string vm, string device, string mac, bool attached) => new
    {
        id,
        vm,
        network = "4e4e4e4e-0000-0000-0000-000000000001",
        device,
        mac,
        mtu = 1500,
        currentlyAttached = attached,
        allowedOperations = attached ? new[] { "unplug" } : ["plug", "destroy"],
        currentOperations = new Dictionary<string, string>(),
        version = 2,
    };

    private static object Event(long seq, string stream, long version, string type, string at, string actor, string correlationId) =>
        new { seq, stream, version, type, at, actor, correlationId, data = new { } };
}

/// <summary>One POST as the stub received it: "POST /path?query" and the body ("" when there was none).</summary>
public sealed record Post(string Request, string Body);
