using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;

namespace Xapi.Cqrs.Api.Tests.Vms;

/// <summary>The VM a test wants: its memory (bytes), vCPUs and devices. Defaults: HVM, 1 GiB static, 512 MiB dynamic_min.</summary>
public sealed record VmSpec
{
    public string? Name { get; init; }
    public long VcpusMax { get; init; } = 2;
    public long VcpusAtStartup { get; init; } = 2;
    public long StaticMin { get; init; } = 256 * Pool.MiB;
    public long DynamicMin { get; init; } = 512 * Pool.MiB;
    public long DynamicMax { get; init; } = 1024 * Pool.MiB;
    public long StaticMax { get; init; } = 1024 * Pool.MiB;
    public string DomainType { get; init; } = "hvm";
    public bool IsATemplate { get; init; }
    public Dictionary<string, string>? BlockedOperations { get; init; }
    public Dictionary<string, string>? OtherConfig { get; init; }
    public string? ActionsAfterShutdown { get; init; }
    public string? ActionsAfterReboot { get; init; }
    public string? ActionsAfterCrash { get; init; }

    /// <summary>A RW disk (a new VDI on the pool's SR unless <see cref="DiskVdi"/> is given).</summary>
    public bool Disk { get; init; } = true;
    public Guid? DiskVdi { get; init; }
    public Guid? DiskSr { get; init; }

    /// <summary>A read-only CD on a read-only VDI.</summary>
    public bool Cd { get; init; }

    /// <summary>How many VIFs (devices 0..n-1) on <see cref="VifNetwork"/> or the pool's network.</summary>
    public int Vifs { get; init; } = 1;
    public Guid? VifNetwork { get; init; }
}

/// <summary>A VM as created: its id and its devices.</summary>
public sealed record PoolVm(Guid Id, string Name, List<Guid> Vbds, List<Guid> Vifs, List<Guid> Vdis);

/// <summary>
/// Builds a pool through the HTTP API: a network, an SR, hosts and VMs (with VDI, VBD, VIF), and keeps every
/// id it created so a test can check that nothing is left marked on them.
/// </summary>
public sealed class Pool
{
    public const long MiB = 1024 * 1024;
    public const long GiB = 1024 * MiB;

    private readonly HttpClient client;
    private readonly CancellationToken ct;
    private readonly string tag = Guid.NewGuid().ToString("N")[..6];
    private readonly Lock gate = new();
    private int counter;

    private Pool(HttpClient client, CancellationToken ct)
    {
        this.client = client;
        this.ct = ct;
    }

    public Guid Network { get; private set; }
    public Guid Sr { get; private set; }
    public List<Guid> Hosts { get; } = [];
    public Dictionary<Guid, string> HostNames { get; } = [];
    public List<PoolVm> Vms { get; } = [];

    /// <summary>Every object id this pool created.</summary>
    public HashSet<Guid> AllIds { get; } = [];

    public static async Task<Pool> CreateAsync(HttpClient client, CancellationToken ct)
    {
        var pool = new Pool(client, ct);
        pool.Network = await pool.PostAsync("/api/networks", new { nameLabel = pool.Name("net") });
        pool.Sr = await pool.PostAsync("/api/srs", new { nameLabel = pool.Name("sr"), shared = true });
        return pool;
    }

    public string Name(string kind) => $"{kind}-{tag}-{Interlocked.Increment(ref counter)}";

    public async Task<Guid> NetworkAsync() => await PostAsync("/api/networks", new { nameLabel = Name("net") });

    public async Task<Guid> SrAsync() => await PostAsync("/api/srs", new { nameLabel = Name("sr"), shared = true });

    /// <summary>A host on the pool's network and SR; <paramref name="agent"/> "external" for one driven by its own agent process (none: in-process).</summary>
    public async Task<Guid> HostAsync(long memoryTotal = 16 * GiB, long memoryOverhead = 0, int cpuCount = 8, bool hvmCapable = true,
        Guid[]? networks = null, Guid[]? srs = null, string? agent = null)
    {
        var name = Name("host");
        var id = await PostAsync("/api/hosts", agent is null
            ? new { nameLabel = name, memoryTotal, memoryOverhead, cpuCount, hvmCapable, networks = networks ?? [Network], srs = srs ?? [Sr] }
            : (object)new { nameLabel = name, memoryTotal, memoryOverhead, cpuCount, hvmCapable, networks = networks ?? [Network], srs = srs ?? [Sr], agent });
        lock (gate)
        {
            Hosts.Add(id);
            HostNames[id] = name;
        }
        return id;
    }

    public async Task<Guid> VdiAsync(Guid? sr = null, bool readOnly = false, bool sharable = false) =>
        await PostAsync("/api/vdis", new { srId = sr ?? Sr, nameLabel = Name("vdi"), virtualSize = 8 * GiB, readOnly, sharable });

    public async Task<PoolVm> VmAsync(VmSpec? spec = null)
    {
        spec ??= new VmSpec();
        var name = spec.Name ?? Name("vm");
        var id = await PostAsync("/api/vms", new
        {
            nameLabel = name, vcpusMax = spec.VcpusMax, vcpusAtStartup = spec.VcpusAtStartup,
            memoryStaticMin = spec.StaticMin, memoryDynamicMin = spec.DynamicMin, memoryDynamicMax = spec.DynamicMax, memoryStaticMax = spec.StaticMax,
            domainType = spec.DomainType, isATemplate = spec.IsATemplate, blockedOperations = spec.BlockedOperations ?? [],
            otherConfig = spec.OtherConfig ?? [], actionsAfterShutdown = spec.ActionsAfterShutdown, actionsAfterReboot = spec.ActionsAfterReboot,
            actionsAfterCrash = spec.ActionsAfterCrash,
        });
        var vm = new PoolVm(id, name, [], [], []);
        if (spec.Disk)
        {
            var vdi = spec.DiskVdi ?? await VdiAsync(spec.DiskSr);
            vm.Vdis.Add(vdi);
            vm.Vbds.Add(await PostAsync($"/api/vms/{id}/vbds", new { vdiId = vdi, userdevice = "0", mode = "RW", type = "Disk", bootable = true }));
        }

        if (spec.Cd)
        {
            var vdi = await VdiAsync(readOnly: true);
            vm.Vdis.Add(vdi);
            vm.Vbds.Add(await PostAsync($"/api/vms/{id}/vbds", new { vdiId = vdi, userdevice = "3", mode = "RO", type = "CD" }));
        }

        for (var i = 0; i < spec.Vifs; i++)
        {
            vm.Vifs.Add(await PostAsync($"/api/vms/{id}/vifs", new { networkId = spec.VifNetwork ?? Network, device = i.ToString(System.Globalization.CultureInfo.InvariantCulture) }));
        }

        lock (gate)
        {
            Vms.Add(vm); // VMs may be created concurrently (Task.WhenAll)
        }
        return vm;
    }

    public Task<JsonElement> GetAsync(string path) => client.GetJson(path);

    public Task<JsonElement> VmRecordAsync(Guid vm) => GetAsync($"/api/vms/{vm}");

    public Task<JsonElement> HostRecordAsync(Guid host) => GetAsync($"/api/hosts/{host}");

    /// <summary>Open operations (GET /api/admin/operations) on any object this pool created.</summary>
    public async Task<List<JsonElement>> OpenOperationsAsync()
    {
        var all = await GetAsync("/api/admin/operations");
        return [.. all.EnumerateArray().Where(o => Guid.TryParse(o.GetProperty("id").GetString(), out var id) && AllIds.Contains(id))];
    }

    /// <summary>No operation left on the pool's objects and no host with a scheduled VM.</summary>
    public async Task AssertNothingLeftAsync()
    {
        (await OpenOperationsAsync()).ShouldBeEmpty();
        foreach (var host in Hosts)
        {
            var record = await HostRecordAsync(host);
            record.GetProperty("scheduledVms").GetArrayLength().ShouldBe(0, $"host {HostNames[host]} scheduledVms");
        }
    }

    /// <summary>
    /// §5.4 on every host of the pool: its resident VMs' dynamic_min + overhead fit in memory_total − memory_overhead,
    /// memoryFree is exactly what is left, and no VM is resident on two hosts. Then nothing is left marked.
    /// </summary>
    public async Task AssertNoOvercommitAsync(string because = "")
    {
        var placed = new HashSet<Guid>();
        foreach (var host in Hosts)
        {
            var record = await HostRecordAsync(host);
            long used = 0;
            foreach (var vm in record.GetProperty("residentVms").EnumerateArray().Select(v => v.GetGuid()))
            {
                placed.Add(vm).ShouldBeTrue($"{because}: VM {vm} resident on two hosts");
                var vmRecord = await VmRecordAsync(vm);
                vmRecord.GetProperty("residentOn").GetGuid().ShouldBe(host);
                used += vmRecord.GetProperty("memoryDynamicMin").GetInt64() + vmRecord.GetProperty("memoryOverhead").GetInt64();
            }

            var capacity = record.GetProperty("memoryTotal").GetInt64() - record.GetProperty("memoryOverhead").GetInt64();
            used.ShouldBeLessThanOrEqualTo(capacity, $"{because}: host {HostNames[host]} overcommitted");
            record.GetProperty("memoryFree").GetInt64().ShouldBe(capacity - used, $"{because}: host {HostNames[host]} memoryFree");
        }

        await AssertNothingLeftAsync();
    }

    private async Task<Guid> PostAsync(string path, object body)
    {
        var id = await (await client.Post(path, body)).CreatedId();
        lock (gate)
        {
            AllIds.Add(id);
        }

        return id;
    }
}

/// <summary>Assertions on successful answers (problem answers: Fixtures/Problems.cs).</summary>
public static class Answers
{
    public static async Task<JsonElement> ShouldBeOkAsync(this HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.OK, text);
        return JsonDocument.Parse(text).RootElement;
    }
}
