using System.Collections.Immutable;
using Xapi.Cqrs.Domain.Hosts;
using Xapi.Cqrs.Domain.Memory;
using Xapi.Cqrs.Domain.Operations;
using Xapi.Cqrs.Domain.Placement;
using Xapi.Cqrs.Domain.Storage;
using Xapi.Cqrs.Domain.Streams;
using Xapi.Cqrs.Domain.Tasks;
using Xapi.Cqrs.Domain.Vbds;
using Xapi.Cqrs.Domain.Vifs;

namespace Xapi.Cqrs.Domain.Vms;

/// <summary>
/// A VM.start or VM.start_on as asked: the task that will track it, the host for start_on, whether to
/// leave the domain paused, the seed of the placement draw (recorded in HostChosen), who asked and when.
/// </summary>
public sealed record StartRequest(Guid TaskId, Guid? Host, bool Paused, int Seed, string Subject, DateTimeOffset Now)
{
    public VmOperation Operation => Host is null ? VmOperation.Start : VmOperation.StartOn;
}

/// <summary>
/// VM.start and VM.start_on, master side (XAPI.md §3), as a pure decision: from the VM and its devices as
/// loaded and the pool's hosts, everything xapi does under its global lock — check the operation (§1.4),
/// this product's start policy (§6.8), mark every VBD (VDI_IN_USE, VDI_READONLY …) and every VIF (§2.3),
/// resolve the domain type, recompute the overhead, set generic BIOS strings (§3.1 steps 5–7), choose or
/// check the host (§4, §3.3) and reserve memory on it. The result is the events of each stream (VM,
/// VBDs, VDIs, VIFs, the chosen host, the new task) and the pool view after them; or, when the start
/// cannot begin, the refusal with its StartRefused event for the VM's history and nothing else.
/// The same function decides for real, answers ?dryRun=true and replays a recorded draw.
/// </summary>
public sealed record StartDecision(StartRequest Request, Changes Changes, PoolView Pool, PlacementResult? Placement, XapiException? Refusal)
{
    public const string TaskName = "VM.start";

    public bool Accepted => Refusal is null;

    public static StartDecision Decide(VmDevices devices, StartRequest request, PoolView pool)
    {
        try
        {
            return Accept(devices, request, pool);
        }
        catch (XapiException refusal)
        {
            return Refuse(devices.Vm, request, pool, refusal);
        }
    }

    /// <summary>A start that cannot begin: only its refusal, recorded in the VM's history.</summary>
    public static StartDecision Refuse(Vm vm, StartRequest request, PoolView pool, XapiException refusal) =>
        new(request,
            new Changes().Append(StreamKind.Vm, vm.Id, new StartRefused(request.TaskId, request.Operation.ToWire(), refusal.Code, [.. refusal.Params])),
            pool, null, refusal);

    private static StartDecision Accept(VmDevices devices, StartRequest request, PoolView pool)
    {
        var vm = devices.Vm;
        var op = request.Operation;

        // §3.3: start_on looks at the host before it marks the VM (unknown host, control-domain affinity, evacuate).
        if (request.Host is { } target)
        {
            var named = pool.Hosts.GetValueOrDefault(target) ?? throw XapiException.HandleInvalid(ObjectClass.Host, target);
            if (HostChecks.ControlDomainAffinityError(vm, target) is { } affinity)
            {
                throw affinity;
            }

            if (named.IsEvacuating)
            {
                throw new XapiException(ErrorCodes.HostEvacuateInProgress, target.ToString());
            }
        }

        // §1.4 checks in order (blocked, power state, other operation, template, snapshot, control domain),
        // then this product's own policy, kept from the 2009 code (§6.8).
        VmLifecycle.AssertOperationValid(vm, op);
        if (StartPolicy.Check(vm) is { } policy)
        {
            throw policy;
        }

        if (devices.Missing() is { } missing)
        {
            throw missing;
        }

        // §2.3: every VBD can take 'attach' (first failure wins), marked one after the other: a VDI already held by
        // an earlier VBD of this start counts for the next. Then every VIF (any failure: "Failed to lock all VIFs").
        var held = devices.Vdis;
        foreach (var vbd in devices.Vbds)
        {
            var vdi = vbd is { Empty: false, VdiId: { } vdiId } ? held.GetValueOrDefault(vdiId) : null;
            if (VbdRules.CheckAttach(vbd, vdi, vm.Id, vm.IsControlDomain) is { } refused)
            {
                throw refused;
            }

            if (vdi is not null)
            {
                held = held.SetItem(vdi.Id, vdi.On(new VdiHeld(vbd.Id, vm.Id, vbd.Mode == VbdMode.RW, request.TaskId)));
            }
        }

        VifRules.MarkAll(devices.Vifs);

        // §3.1 steps 5–7, on the snapshot placement uses.
        var prepared = new List<object>();
        if (vm.DomainType == DomainType.Unspecified)
        {
            prepared.Add(new DomainTypeSet(vm.DomainType.Resolve(vm.HvmBootPolicy)));
        }

        var snapshot = prepared.Aggregate(vm, (s, e) => s.Evolve(e));
        var overhead = MemoryModel.OverheadBytes(snapshot);
        if (overhead != snapshot.MemoryOverhead)
        {
            prepared.Add(new MemoryOverheadUpdated(overhead));
        }

        if (snapshot.BiosStrings.IsEmpty)
        {
            prepared.Add(new BiosStringsSet(GenericBiosStrings));
        }

        snapshot = prepared.Aggregate(vm, (s, e) => s.Evolve(e));

        // §3.1 step 9 / §3.3: choose (or check) the host, with every input recorded.
        var srIds = devices.Vbds.Select(devices.VdiOf).OfType<Storage.Vdi>().Select(v => v.SrId).ToList();
        var networks = devices.Vifs.Select(v => v.NetworkId).ToList();
        var internalNetworks = networks.Distinct().Where(n => !pool.Hosts.Values.Any(h => h.Networks.Contains(n))).ToImmutableArray();
        var placementRequest = new PlacementRequest(snapshot, srIds, networks)
        {
            InternalNetworkHosts = internalNetworks.ToDictionary(n => n, n => (IReadOnlySet<Guid>)pool.Hosts.Values
                .Where(h => h.InternalNetworks.Any(kv => kv.Key != vm.Id && kv.Value.Contains(n))).Select(h => h.Id).ToHashSet()),
        };
        var placement = Place(placementRequest, request, pool);
        var host = pool.Hosts[placement.HostId];

        var taskId = request.TaskId;
        var changes = new Changes()
            .Append(StreamKind.Vm, vm.Id, new OperationAdded(taskId, op.ToWire(), ObjectClass.Vm))
            .Append(StreamKind.Vm, vm.Id, prepared)
            .Append(StreamKind.Vm, vm.Id,
                placement.ToEvent(taskId, op),
                new ScheduledToBeResidentOnSet(taskId, placement.HostId, request.Paused));
        DeviceMarks.Mark(changes, devices, taskId);
        changes.Append(StreamKind.Host, host.Id,
                new OperationAdded(taskId, "vm_start", ObjectClass.Host),
                new VmScheduledOnHost(vm.Id, taskId, MemoryModel.Charge(snapshot), internalNetworks.IsEmpty ? null : internalNetworks))
            .Start(StreamKind.Task, taskId, new TaskCreated(taskId, TaskName, ObjectClass.Vm, vm.Id, request.Subject, request.Now));
        return new StartDecision(request, changes, pool.Apply(changes), placement, null);
    }

    private static PlacementResult Place(PlacementRequest placement, StartRequest request, PoolView pool)
    {
        if (request.Host is not { } target)
        {
            return HostPlacement.ChooseHost(placement, pool.Snapshots, new Random(request.Seed), request.Seed);
        }

        if (!pool.Hosts.TryGetValue(target, out var host))
        {
            throw XapiException.HandleInvalid(ObjectClass.Host, target);
        }

        if (HostPlacement.CheckStartOn(placement, host) is { } refused)
        {
            throw refused;
        }

        return new PlacementResult(target, PlacementReplay.StartOn, true, request.Seed, [], [], MemoryModel.StartMemoryRequired(placement.Vm));
    }

    /// <summary>§3.1 step 7: xapi's generic BIOS strings, stored when the VM has none.</summary>
    public static readonly ImmutableDictionary<string, string> GenericBiosStrings = new Dictionary<string, string>
    {
        ["bios-vendor"] = "Xen",
        ["bios-version"] = "",
        ["system-manufacturer"] = "Xen",
        ["system-product-name"] = "HVM domU",
        ["system-version"] = "",
        ["system-serial-number"] = "",
        ["baseboard-manufacturer"] = "",
        ["baseboard-product-name"] = "",
        ["baseboard-version"] = "",
        ["baseboard-serial-number"] = "",
        ["baseboard-asset-tag"] = "",
        ["baseboard-location-in-chassis"] = "",
        ["enclosure-asset-tag"] = "",
        ["hp-rombios"] = "",
        ["oem-1"] = "Xen",
        ["oem-2"] = "MS_VM_CERT/SHA1/bdbeb6e0a816d43fa6d3fe8aaef04c2bad9d3e3d",
    }.ToImmutableDictionary();
}
