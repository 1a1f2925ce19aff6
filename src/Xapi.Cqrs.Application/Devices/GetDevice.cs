using Marten;
using MediatR;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Domain;
using Xapi.Cqrs.Domain.Vbds;
using Xapi.Cqrs.Domain.Vifs;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Application.Devices;

public static class GetDevice
{
    public sealed record Vbd(Guid Id, long? MinVersion = null) : IRequest<VbdView>;

    public sealed record Vif(Guid Id, long? MinVersion = null) : IRequest<VifView>;

    public sealed class Handler(IQuerySession session, TimeProvider time) : IRequestHandler<Vbd, VbdView>, IRequestHandler<Vif, VifView>
    {
        public async Task<VbdView> Handle(Vbd request, CancellationToken cancellationToken)
        {
            var vbd = await ReadModels.LoadAsync<Domain.Vbds.Vbd>(session, request.Id, ObjectClass.Vbd, request.MinVersion, v => v.Version, time, cancellationToken);
            if (vbd.Destroyed)
            {
                throw XapiException.HandleInvalid(ObjectClass.Vbd, request.Id);
            }

            var vm = await session.LoadAsync<Vm>(vbd.VmId, cancellationToken);
            return VbdView.From(vbd, DeviceOperations.Allowed(vbd, vm));
        }

        public async Task<VifView> Handle(Vif request, CancellationToken cancellationToken)
        {
            var vif = await ReadModels.LoadAsync<Domain.Vifs.Vif>(session, request.Id, ObjectClass.Vif, request.MinVersion, v => v.Version, time, cancellationToken);
            if (vif.Destroyed)
            {
                throw XapiException.HandleInvalid(ObjectClass.Vif, request.Id);
            }

            var vm = await session.LoadAsync<Vm>(vif.VmId, cancellationToken);
            return VifView.From(vif, DeviceOperations.Allowed(vif, vm));
        }
    }
}

/// <summary>
/// Allowed operations of devices, which depend on their VM's power state, current operations and, for a running HVM
/// guest, its PV drivers (§2.1, §2.2). The VDI rows are not evaluated here (the VDI is not read), as the list is advisory.
/// </summary>
public static class DeviceOperations
{
    public static IEnumerable<string> Allowed(Domain.Vbds.Vbd vbd, Vm? vm) =>
        (vm is null ? VbdRules.AllowedOperations(vbd, VmPowerState.Halted) : VbdRules.AllowedOperations(vbd, vm)).Select(o => o.ToWire());

    public static IEnumerable<string> Allowed(Domain.Vifs.Vif vif, Vm? vm) =>
        (vm is null ? VifRules.AllowedOperations(vif, VmPowerState.Halted) : VifRules.AllowedOperations(vif, vm)).Select(o => o.ToWire());
}
