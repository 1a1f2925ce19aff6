using System.Collections.Immutable;
using System.Diagnostics;
using Xapi.Cqrs.Domain.Hosts;
using Xapi.Cqrs.Domain.Memory;
using Xapi.Cqrs.Domain.Placement;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Bench;

/// <summary>
/// Placement alone, in process, no database: HostPlacement.ChooseHost over 64 and over 1,000 hosts that hold
/// 10,000 resident VMs between them. The 64-host loop is the 1,000-host loop's baseline.
/// </summary>
internal static class Placement
{
    private const int ResidentVms = 10_000;
    private const double P99Target = 5;

    private static readonly TimeSpan MinimumWarmUp = TimeSpan.FromSeconds(1);

    private sealed record Result(double DecisionsPerSecond, Percentiles Latency);

    /// <summary>A pool as placement sees it, and the VM to place.</summary>
    private sealed record Setup(PlacementRequest Request, IReadOnlyList<Host> Hosts)
    {
        public void Decide(int seed) =>
            HostPlacement.ChooseHost(Request, Hosts.Select(h => new HostSnapshot(h)).ToList(), new Random(seed), seed);
    }

    public static Section Run(Sizes sizes, CancellationToken ct)
    {
        var setups = new[] { Build(64), Build(1_000) };

        // Warm-up, alternating, until each has made its warm-up decisions and a second has passed, so tiered
        // compilation has settled before either is measured (the first one measured would otherwise pay for it).
        var warming = Stopwatch.GetTimestamp();
        for (var seed = 0; seed < sizes.PlacementWarmup || Stopwatch.GetElapsedTime(warming) < MinimumWarmUp; seed++)
        {
            ct.ThrowIfCancellationRequested();
            Array.ForEach(setups, s => s.Decide(seed));
        }

        var small = Measure(setups[0], sizes, ct);
        var large = Measure(setups[1], sizes, ct);
        var section = new Section($"Placement alone (in process): {sizes.PlacementDecisions:N0} decisions each after ≥ {sizes.PlacementWarmup} warm-up, {ResidentVms:N0} resident VMs spread evenly");
        const string baseline = "64 hosts";
        section.Figures.Add(new Figure("64 hosts: decisions/s", small.DecisionsPerSecond, "/s"));
        section.Figures.Add(new Figure("64 hosts: p50", small.Latency.P50, "ms"));
        section.Figures.Add(new Figure("64 hosts: p99", small.Latency.P99, "ms"));
        section.Figures.Add(new Figure("1,000 hosts: decisions/s", large.DecisionsPerSecond, "/s") { Baseline = small.DecisionsPerSecond, BaselineName = baseline });
        section.Figures.Add(new Figure("1,000 hosts: p50", large.Latency.P50, "ms") { Baseline = small.Latency.P50, BaselineName = baseline });
        section.Figures.Add(new Figure("1,000 hosts: p99", large.Latency.P99, "ms")
        {
            Baseline = small.Latency.P99,
            BaselineName = baseline,
            Target = $"< {P99Target:0} ms",
            Ok = large.Latency.P99 < P99Target,
        });
        section.Notes.Add("ChooseHost reads only the host snapshots it is handed (each host's resident and scheduled memory charges); " +
            "it never reads the event log, so its cost is flat as the log grows: it depends on hosts and resident VMs, not on history.");
        return section;
    }

    private static Setup Build(int hostCount)
    {
        var network = Guid.NewGuid();
        var sr = Guid.NewGuid();
        var template = new Vm
        {
            Id = Guid.NewGuid(),
            NameLabel = "bench",
            VcpusMax = 1,
            VcpusAtStartup = 1,
            MemoryStaticMin = Pool.VmMemory,
            MemoryDynamicMin = Pool.VmMemory,
            MemoryDynamicMax = Pool.VmMemory,
            MemoryStaticMax = Pool.VmMemory,
            MemoryOverhead = MemoryModel.OverheadBytes(Pool.VmMemory, 1, 1.0, DomainType.Pv),
            DomainType = DomainType.Pv,
        };
        var charge = MemoryModel.Charge(template);
        var resident = Enumerable.Range(0, hostCount).Select(_ => ImmutableDictionary.CreateBuilder<Guid, MemoryCharge>()).ToArray();
        for (var i = 0; i < ResidentVms; i++)
        {
            resident[i % hostCount].Add(Guid.NewGuid(), charge);
        }

        var hosts = resident.Select((r, i) => new Host
        {
            Id = Guid.NewGuid(),
            NameLabel = $"host-{i}",
            MemoryTotal = 256 * Pool.GiB,
            MemoryOverhead = 1 * Pool.GiB,
            CpuCount = 64,
            HvmCapable = true,
            Networks = [network],
            Srs = [sr],
            Resident = r.ToImmutable(),
        }).ToList();
        return new Setup(new PlacementRequest(template with { Id = Guid.NewGuid() }, [sr], [network]), hosts);
    }

    /// <summary>Decisions timed one by one (Stopwatch.GetTimestamp around each ChooseHost call, snapshots included).</summary>
    private static Result Measure(Setup setup, Sizes sizes, CancellationToken ct)
    {
        GC.Collect();
        var times = new double[sizes.PlacementDecisions];
        var started = Stopwatch.GetTimestamp();
        for (var i = 0; i < times.Length; i++)
        {
            ct.ThrowIfCancellationRequested();
            var begun = Stopwatch.GetTimestamp();
            setup.Decide(sizes.PlacementWarmup + i);
            times[i] = Report.MillisecondsSince(begun);
        }

        return new Result(times.Length / Stopwatch.GetElapsedTime(started).TotalSeconds, Percentiles.Of(times));
    }
}
