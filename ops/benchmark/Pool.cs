using System.Diagnostics;
using System.Globalization;

namespace Xapi.Cqrs.Bench;

/// <summary>The halted VMs a storm starts, and what building their pool through the inventory API took.</summary>
internal sealed record BenchPool(IReadOnlyList<Guid> Vms, int Requests, TimeSpan SetupTime);

/// <summary>
/// Builds a pool through the HTTP API (API.md "Inventory"), 16 requests in flight: one network, one shared
/// SR, simulated hosts with room to spare, and halted PV VMs with two disks (each on its own VDI) and two VIFs.
/// </summary>
internal static class Pool
{
    public const long MiB = 1L << 20;
    public const long GiB = 1L << 30;
    public const long VmMemory = 256 * MiB;
    public const int Workers = 16;

    /// <summary>Requests per VM: the VM, two VDIs, two VBDs, two VIFs.</summary>
    private const int RequestsPerVm = 7;

    public static async Task<BenchPool> CreateAsync(Api api, string tag, int hostCount, int vmCount, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        var network = await api.CreateAsync("/api/networks", new { nameLabel = $"{tag}-net" }, ct);
        var sr = await api.CreateAsync("/api/srs", new { nameLabel = $"{tag}-sr", shared = true }, ct);

        await Parallel.ForAsync(0, hostCount, Concurrency(Workers, ct), async (i, token) =>
            await api.CreateAsync("/api/hosts", new
            {
                nameLabel = $"{tag}-host-{i}",
                memoryTotal = 256 * GiB,
                memoryOverhead = 1 * GiB,
                cpuCount = 64,
                hvmCapable = true,
                networks = new[] { network },
                srs = new[] { sr },
            }, token));

        var vms = new Guid[vmCount];
        await Parallel.ForAsync(0, vmCount, Concurrency(Workers, ct), async (i, token) =>
            vms[i] = await CreateVmAsync(api, $"{tag}-vm-{i}", network, sr, token));

        return new BenchPool(vms, 2 + hostCount + (vmCount * RequestsPerVm), Stopwatch.GetElapsedTime(started));
    }

    public static ParallelOptions Concurrency(int workers, CancellationToken ct) =>
        new() { MaxDegreeOfParallelism = workers, CancellationToken = ct };

    private static async Task<Guid> CreateVmAsync(Api api, string name, Guid network, Guid sr, CancellationToken ct)
    {
        var vm = await api.CreateAsync("/api/vms", new
        {
            nameLabel = name,
            vcpusMax = 1,
            vcpusAtStartup = 1,
            memoryStaticMin = VmMemory,
            memoryDynamicMin = VmMemory,
            memoryDynamicMax = VmMemory,
            memoryStaticMax = VmMemory,
            domainType = "pv",
        }, ct);
        foreach (var device in new[] { "0", "1" })
        {
            var vdi = await api.CreateAsync("/api/vdis", new { srId = sr, nameLabel = $"{name}-disk{device}", virtualSize = 8 * GiB }, ct);
            await api.CreateAsync($"/api/vms/{vm}/vbds", new { vdiId = vdi, userdevice = device, mode = "RW", type = "Disk", bootable = device == "0" }, ct);
        }

        for (var device = 0; device < 2; device++)
        {
            await api.CreateAsync($"/api/vms/{vm}/vifs", new { networkId = network, device = device.ToString(CultureInfo.InvariantCulture) }, ct);
        }

        return vm;
    }
}
