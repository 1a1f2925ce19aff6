using Marten;
using MediatR;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Domain;
using Xapi.Cqrs.Domain.Hosts;
using Xapi.Cqrs.Domain.Storage;
using Xapi.Cqrs.Domain.Vbds;
using Xapi.Cqrs.Domain.Vifs;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Application.Vms;

/// <summary>
/// The hypervisor reports the VM's domain gone: power state Halted with the §1.7 side effects —
/// resident_on, scheduled_to_be_resident_on and domid cleared (in PowerStateChanged), every VBD/VIF
/// detached, disks released, and the VM's memory no longer charged to the host.
/// </summary>
public static class VmHalted
{
    public sealed record Command(Guid VmId, Guid HostId, string Reason) : IRequest<Unit>;

    public sealed class Handler(IDocumentSession session) : IRequestHandler<Command, Unit>
    {
        public async Task<Unit> Handle(Command c, CancellationToken ct)
        {
            var vm = await session.WriteAsync<Vm>(c.VmId, ObjectClass.Vm, ct);
            if (vm.Aggregate!.PowerState == VmPowerState.Halted)
            {
                return Unit.Value;
            }

            vm.AppendOne(new PowerStateChanged(VmPowerState.Halted, c.Reason));
            var host = await session.WriteAsync<Host>(c.HostId, ObjectClass.Host, ct);
            if (host.Aggregate!.Resident.ContainsKey(c.VmId))
            {
                host.AppendOne(new VmLeftHost(c.VmId));
            }

            foreach (var vbd in await session.LoadManyAsync<Vbd>(ct, vm.Aggregate.Vbds.Keys))
            {
                if (vbd.CurrentlyAttached)
                {
                    session.Events.Append(vbd.Id, new VbdCurrentlyAttachedSet(false, vbd.Device));
                }

                if (vbd.VdiId is { } vdiId && await session.LoadAsync<Vdi>(vdiId, ct) is { } vdi && vdi.Holders.ContainsKey(vbd.Id))
                {
                    session.Events.Append(vdiId, new VdiReleased(vbd.Id));
                }
            }

            foreach (var vif in await session.LoadManyAsync<Vif>(ct, vm.Aggregate.Vifs.Keys))
            {
                if (vif.CurrentlyAttached)
                {
                    session.Events.Append(vif.Id, new VifCurrentlyAttachedSet(false));
                }
            }

            await session.SaveChangesAsync(ct);
            return Unit.Value;
        }
    }
}
