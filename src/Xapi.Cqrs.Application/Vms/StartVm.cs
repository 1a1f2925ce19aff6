using System.Collections.Immutable;
using FluentValidation;
using JasperFx.Events;
using Marten;
using MediatR;
using Xapi.Cqrs.Application.Pipeline;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Domain;
using Xapi.Cqrs.Domain.Hosts;
using Xapi.Cqrs.Domain.Memory;
using Xapi.Cqrs.Domain.Operations;
using Xapi.Cqrs.Domain.Placement;
using Xapi.Cqrs.Domain.Storage;
using Xapi.Cqrs.Domain.Tasks;
using Xapi.Cqrs.Domain.Vbds;
using Xapi.Cqrs.Domain.Vifs;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Application.Vms;

/// <summary>
/// VM.start and VM.start_on, master side (XAPI.md §3). Everything xapi does under its global lock —
/// check the operation, mark the VM, its VBDs and VIFs, resolve the domain type, recompute the memory
/// overhead, store generic BIOS strings, choose a host and reserve memory on it — is decided here and
/// committed as one transaction: all of it is in the log, or none of it. The reservation is appended
/// to the chosen host's stream with the version placement read, so a concurrent placement on the same
/// host conflicts and this command is decided again (see ConcurrencyRetryBehavior).
/// The host agent takes it from there (§6); the answer waits for the task unless async.
/// </summary>
public static class StartVm
{
    public const string TaskName = "VM.start";

    public sealed record Command(Guid VmId, Guid? Host, bool Paused, bool Force) : IRequest<Started>;

    /// <summary>The task that tracks the start, and the VM stream version after the master-side commit.</summary>
    public sealed record Started(Guid TaskId, long VmVersion);

    public sealed class Validator : XapiValidator<Command>
    {
        public Validator() => RuleFor(c => c.VmId).NotEmpty().InvalidValue("VM");
    }

    public sealed class Handler(IDocumentSession session, PlacementSettings placement, CommandContext context, TimeProvider time)
        : IRequestHandler<Command, Started>
    {
        public async Task<Started> Handle(Command c, CancellationToken ct)
        {
            var op = c.Host is null ? VmOperation.Start : VmOperation.StartOn;
            var taskId = Guid.NewGuid();
            var vmStream = await session.WriteAsync<Vm>(c.VmId, ObjectClass.Vm, ct);
            var vm = vmStream.Aggregate!;

            try
            {
                return await Decide(c, op, taskId, vmStream, vm, ct);
            }
            catch (XapiException refusal) when (refusal.Code != ErrorCodes.HandleInvalid || refusal.Params.FirstOrDefault() != ObjectClass.Vm)
            {
                // The start could not begin: nothing was marked. Record the refusal in the VM's history.
                session.EjectAllPendingChanges();
                var again = await session.Events.FetchForWriting<Vm>(c.VmId, ct);
                again.AppendOne(new StartRefused(taskId, op.ToWire(), refusal.Code, [.. refusal.Params]));
                await session.SaveChangesAsync(ct);
                throw;
            }
        }

        private async Task<Started> Decide(Command c, VmOperation op, Guid taskId, IEventStream<Vm> vmStream, Vm vm, CancellationToken ct)
        {
            // §1.4 checks in order (blocked, power state, other operation, template, snapshot, control domain).
            VmLifecycle.AssertOperationValid(vm, op);

            // This product's own policy, kept from the 2009 code (XAPI.md §6.8).
            if (StartPolicy.Check(vm) is { } policy)
            {
                throw policy;
            }

            // §2.3: every VBD gets 'attach' (first failure wins, none stays marked) …
            var vbds = new List<IEventStream<Vbd>>();
            var vdis = new Dictionary<Guid, IEventStream<Vdi>>();
            foreach (var vbdId in vm.Vbds.Keys.Order())
            {
                var vbd = await session.WriteAsync<Vbd>(vbdId, ObjectClass.Vbd, ct);
                Vdi? vdi = null;
                if (vbd.Aggregate!.VdiId is { } vdiId && !vbd.Aggregate.Empty)
                {
                    if (!vdis.TryGetValue(vdiId, out var vdiStream))
                    {
                        vdiStream = await session.WriteAsync<Vdi>(vdiId, ObjectClass.Vdi, ct);
                        vdis[vdiId] = vdiStream;
                    }

                    vdi = vdiStream.Aggregate;
                }

                if (VbdRules.CheckAttach(vbd.Aggregate, vdi, vm.Id, vm.IsControlDomain) is { } refused)
                {
                    throw refused;
                }

                vbds.Add(vbd);
            }

            // … and every VIF (any failure: OPERATION_NOT_ALLOWED ["Failed to lock all VIFs"]).
            var vifs = new List<IEventStream<Vif>>();
            foreach (var vifId in vm.Vifs.Keys.Order())
            {
                vifs.Add(await session.WriteAsync<Vif>(vifId, ObjectClass.Vif, ct));
            }

            VifRules.MarkAll(vifs.Select(v => v.Aggregate!));

            // §3.1 steps 5–7 on the snapshot placement will use.
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
            var srIds = vbds.Select(v => v.Aggregate!).Where(v => v is { Empty: false, VdiId: not null })
                .Select(v => vdis[v.VdiId!.Value].Aggregate!.SrId).ToList();
            var request = new PlacementRequest(snapshot, srIds, [.. vifs.Select(v => v.Aggregate!.NetworkId)]);
            var hosts = (await session.Query<Host>().ToListAsync(ct)).Select(h => new HostSnapshot(h, h.Version)).ToList();
            var seed = placement.NextSeed();
            PlacementResult chosen;
            if (c.Host is { } target)
            {
                var host = hosts.FirstOrDefault(h => h.Id == target) ?? throw XapiException.HandleInvalid(ObjectClass.Host, target);
                if (HostPlacement.CheckStartOn(request, host) is { } refused)
                {
                    throw refused;
                }

                chosen = new PlacementResult(target, "start_on", true, seed, [], [], MemoryModel.StartMemoryRequired(snapshot));
            }
            else
            {
                chosen = HostPlacement.ChooseHost(request, hosts, new Random(seed), seed);
            }

            var chosenHost = hosts.First(h => h.Id == chosen.HostId);
            var hostStream = await session.Events.FetchForWriting<Host>(chosen.HostId, chosenHost.Version, ct);

            // One transaction: marks, preparation, choice, reservation, task.
            var now = time.GetUtcNow();
            session.Events.StartStream<XapiTask>(taskId,
                new TaskCreated(taskId, TaskName, ObjectClass.Vm, vm.Id, context.Subject, now),
                new TaskProgressed(0.1, $"host chosen: {chosenHost.Host.NameLabel}"));
            vmStream.AppendOne(new OperationAdded(taskId, op.ToWire(), ObjectClass.Vm));
            vmStream.AppendMany(prepared);
            vmStream.AppendOne(chosen.ToEvent(taskId, op));
            vmStream.AppendOne(new ScheduledToBeResidentOnSet(taskId, chosen.HostId, c.Paused));
            foreach (var vbd in vbds)
            {
                vbd.AppendOne(new OperationAdded(taskId, VbdOperation.Attach.ToWire(), ObjectClass.Vbd));
                if (vbd.Aggregate!.VdiId is { } vdiId && vdis.TryGetValue(vdiId, out var vdiStream))
                {
                    vdiStream.AppendOne(new VdiHeld(vbd.Aggregate.Id, vm.Id, vbd.Aggregate.Mode == VbdMode.RW, taskId));
                }
            }

            foreach (var vif in vifs)
            {
                vif.AppendOne(new OperationAdded(taskId, VifOperation.Attach.ToWire(), ObjectClass.Vif));
            }

            hostStream.AppendOne(new OperationAdded(taskId, "vm_start", ObjectClass.Host));
            hostStream.AppendOne(new VmScheduledOnHost(vm.Id, taskId, MemoryModel.Charge(snapshot)));
            await session.SaveChangesAsync(ct);
            return new Started(taskId, vmStream.CurrentVersion ?? 0);
        }
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

/// <summary>Xapi:Seed — the placement draw's seed source. Unset: a random seed per start, still recorded.</summary>
public sealed class PlacementSettings(int? seed)
{
    private readonly Random seeds = seed is { } s ? new Random(s) : new Random();
    private readonly Lock gate = new();

    public int NextSeed()
    {
        lock (gate)
        {
            return seeds.Next();
        }
    }
}
