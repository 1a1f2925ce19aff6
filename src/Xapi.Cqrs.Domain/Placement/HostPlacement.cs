using System.Collections.Immutable;
using Xapi.Cqrs.Domain.Memory;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Domain.Placement;

/// <summary>
/// Host choice for VM.start (XAPI.md §4; ocaml/xapi/xapi_vm_helpers.ml <c>choose_host_for_vm_no_wlb</c>,
/// xapi_vm_placement.ml, vm_placement.ml) and the host check of VM.start_on (§3.3).
/// Left out, as the issue allows: WLB (§4.1), anti-affinity VM groups, vGPU and SR-IOV ranking (§4.2
/// steps 1–2: everything is the single "Other" group), PCI, VUSB, rolling upgrade, and the HA plan
/// check (§4.6), which is the caller's step after the choice.
/// (Named HostPlacement, not Placement, so the type does not share its namespace's name.)
/// </summary>
public static class HostPlacement
{
    /// <summary>The categories of §4.4 in the order they are tried, each with a host's value in it (&lt; 0, or not recorded: outside).</summary>
    private static readonly (string Name, Func<HostCandidate, long> Value)[] Categories =
    [
        (PlacementCategories.Affinity, c => c.Affinity ?? -1),
        (PlacementCategories.Definite, c => c.Definite ?? -1),
        (PlacementCategories.Probable, c => c.Probable ?? -1),
        (PlacementCategories.Possible, c => c.Possible ?? -1),
    ];

    /// <summary>
    /// §4.2 + §4.4: choose a host for <paramref name="request"/>'s VM, or throw NO_HOSTS_AVAILABLE [].
    /// <para>Per host, guests = resident VMs + scheduled VMs + the VM being placed (added to every host,
    /// counted once even if it is already resident or scheduled there); available = memory_total −
    /// host overhead − Σ guest overhead. Categories, tried in order, give each host a value (&lt; 0 =
    /// outside): affinity = the possible value for the VM's affinity host (if it is one of
    /// <paramref name="hosts"/>), −1 for others; definite = available − Σ static_max; probable =
    /// available − Σ dynamic_max; possible = 1000 if available ≥ Σ dynamic_max, −1 if available &lt;
    /// Σ dynamic_min, else ⌊1000·(available − Σ dynamic_min)/(Σ dynamic_max − Σ dynamic_min)⌋. With
    /// <see cref="PlacementRequest.CoordinatorBias"/>, the coordinator's definite and probable values v
    /// become (v − 1)/2 in 64-bit integer division truncating toward zero, exactly as OCaml's Int64.div
    /// (so 0 stays 0 and a negative value stays negative).</para>
    /// <para>Within a category the hosts with value ≥ 0 are sorted by value descending (ties by host id,
    /// where xapi keeps list order); each draw takes r = <paramref name="random"/>.NextDouble() (0 when
    /// <paramref name="deterministic"/>, xapi's <c>deterministic_host_selection</c>), index ⌊n·r²⌋, and
    /// validates that host with <see cref="HostChecks.VmCanRunOnHost"/>; a failing host is removed and
    /// the next draw made. When a category is exhausted, the next one considers only the hosts that were
    /// outside it, so a host that failed is never retried in a later category.</para>
    /// <para>If this first pass (memory checked) finds nothing, a second pass repeats it over all hosts
    /// with the memory check off (the categories still exclude hosts that cannot fit the dynamic
    /// minima). When <see cref="PlacementRequest.CheckMemory"/> is false the first pass already runs
    /// without it and there is no second pass.</para>
    /// </summary>
    /// <param name="request">The VM and what it needs.</param>
    /// <param name="hosts">Every host of the pool, as read.</param>
    /// <param name="random">The random source, seeded by the caller with <paramref name="seed"/>.</param>
    /// <param name="seed">Recorded in the result (and the HostChosen event) so the draw can be replayed.</param>
    /// <param name="deterministic">r = 0 for every draw: always the best-valued remaining host.</param>
    /// <returns>The chosen host with every candidate's values and last failed check, and every draw.</returns>
    /// <exception cref="XapiException">NO_HOSTS_AVAILABLE [] when no host validates in either pass.</exception>
    public static PlacementResult ChooseHost(
        PlacementRequest request, IReadOnlyList<HostSnapshot> hosts, Random random, int seed, bool deterministic = false)
    {
        var vm = request.Vm;
        Guid? affinityHost = vm.Affinity is Guid a && hosts.Any(h => h.Id == a) ? a : null;
        var standings = hosts.Select(h => Summarise(h, vm, request.CoordinatorBias, affinityHost)).ToList();
        var byId = new Dictionary<Guid, HostSnapshot>();
        foreach (var host in hosts)
        {
            byId.TryAdd(host.Id, host);
        }

        var selection = Select(standings, (host, checkMemory) => HostChecks.VmCanRunOnHost(request, byId[host], checkMemory),
            random, request.CheckMemory, deterministic);
        if (selection is not { HostId: { } chosen, Category: { } category })
        {
            throw new XapiException(ErrorCodes.NoHostsAvailable);
        }

        var candidates = standings.Select(c => selection.Failures.TryGetValue(c.HostId, out var failed)
            ? c with { FailedCheck = failed.Code, FailedParams = [.. failed.Params] }
            : c);
        return new PlacementResult(chosen, category, selection.MemoryChecked, seed, [.. candidates], selection.Draws,
            MemoryModel.StartMemoryRequired(vm));
    }

    /// <summary>
    /// §4.4 selection (<c>select_host_from_summary</c>, <c>select_host_from_category</c>) and §4.2 step 4, over hosts
    /// whose category values are already known: what <see cref="ChooseHost"/> runs on the values it computes, and what
    /// <see cref="PlacementReplay"/> runs on the values a <see cref="HostChosen"/> recorded. In each category in turn
    /// (affinity, definite, probable, possible; a value &lt; 0 or null is outside), the hosts inside are sorted by value
    /// descending, ties by host id; each draw takes r = <paramref name="random"/>.NextDouble() (0 when
    /// <paramref name="deterministic"/>), index ⌊n·r²⌋, and asks <paramref name="validate"/> (host, check memory) for
    /// the first failed check (null = the host takes the VM); a failing host is removed and the next draw made. An
    /// exhausted category hands on only the hosts that were outside it. With <paramref name="checkMemory"/>, a first
    /// pass that finds nothing is repeated over every host with the memory check off.
    /// </summary>
    /// <returns>The host and its category (both null: no host), whether the memory check was on when it was found,
    /// every draw, and each refused host's last failed check.</returns>
    public static PlacementSelection Select(IReadOnlyList<HostCandidate> candidates, Func<Guid, bool, XapiException?> validate,
        Random random, bool checkMemory, bool deterministic = false)
    {
        var failures = new Dictionary<Guid, XapiException>();
        var draws = ImmutableArray.CreateBuilder<PlacementDraw>();

        (Guid Host, string Category)? Pass(bool memory)
        {
            IReadOnlyList<HostCandidate> pool = candidates;
            foreach (var (name, value) in Categories)
            {
                var within = pool.Where(c => value(c) >= 0).OrderByDescending(value).ThenBy(c => c.HostId).ToList();
                while (within.Count > 0)
                {
                    var r = deterministic ? 0.0 : random.NextDouble();
                    if (r is < 0.0 or >= 1.0)
                    {
                        throw new InvalidOperationException($"random value {r} outside [0, 1)");
                    }

                    var index = (int)(within.Count * (r * r));
                    var candidate = within[index];
                    var error = validate(candidate.HostId, memory);
                    draws.Add(new PlacementDraw(name, memory, within.Count, r, index, candidate.HostId, error is null));
                    if (error is null)
                    {
                        return (candidate.HostId, name);
                    }

                    failures[candidate.HostId] = error;
                    within.RemoveAt(index);
                }

                pool = [.. pool.Where(c => value(c) < 0)];
            }

            return null;
        }

        var memoryChecked = checkMemory;
        var chosen = Pass(memoryChecked);
        if (chosen is null && memoryChecked)
        {
            memoryChecked = false;
            chosen = Pass(memory: false);
        }

        return new PlacementSelection(chosen?.Host, chosen?.Category, memoryChecked, draws.ToImmutable(), failures.ToImmutableDictionary());
    }

    /// <summary>
    /// §3.3 (<c>Forward.VM.start_on</c>): the named host must take the VM. In order: a control domain only
    /// on its affinity host (OPERATION_NOT_ALLOWED [reason]); no <c>evacuate</c> in the host's current
    /// operations (HOST_EVACUATE_IN_PROGRESS [host]); then <see cref="HostChecks.CanBootHere"/> with the
    /// memory check of the request (on by default), e.g. HOST_DISABLED [host] or
    /// HOST_NOT_ENOUGH_FREE_MEMORY [needed; available]. Null = the VM may start there.
    /// </summary>
    public static XapiException? CheckStartOn(PlacementRequest request, HostSnapshot host) =>
        HostChecks.ControlDomainAffinityError(request.Vm, host.Id)
        ?? (host.Host.IsEvacuating ? new XapiException(ErrorCodes.HostEvacuateInProgress, host.Id.ToString()) : null)
        ?? HostChecks.CanBootHere(request, host);

    private static HostCandidate Summarise(HostSnapshot snapshot, Vm vm, bool coordinatorBias, Guid? affinityHost)
    {
        var host = snapshot.Host;
        var guests = host.Resident.Where(kv => kv.Key != vm.Id).Select(kv => kv.Value)
            .Concat(host.Scheduled.Where(kv => kv.Key != vm.Id).Select(kv => kv.Value))
            .Append(MemoryModel.Charge(vm))
            .ToList();
        var available = host.MemoryTotal - (host.MemoryOverhead + guests.Sum(g => g.Overhead));
        var staticMax = guests.Sum(g => g.StaticMax);
        var dynamicMax = guests.Sum(g => g.DynamicMax);
        var dynamicMin = guests.Sum(g => g.DynamicMin);

        long Biased(long v) => coordinatorBias && host.IsCoordinator ? (v - 1) / 2 : v;

        var possible = available >= dynamicMax ? 1000
            : available < dynamicMin ? -1
            : (long)((Int128)1000 * (available - dynamicMin) / (dynamicMax - dynamicMin));
        long? affinity = affinityHost is null ? null : host.Id == affinityHost ? possible : -1;
        return new HostCandidate(host.Id, host.NameLabel, available, Biased(available - staticMax), Biased(available - dynamicMax), possible, affinity,
            null, []);
    }
}
