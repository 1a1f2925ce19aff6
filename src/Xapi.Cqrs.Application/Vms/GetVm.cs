using Marten;
using MediatR;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Domain;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Application.Vms;

public static class GetVm
{
    public sealed record Query(Guid Id, long? MinVersion = null) : IRequest<VmView>;

    public sealed record Metrics(Guid Id) : IRequest<VmMetricsView>;

    public sealed record List(string? PowerState, Guid? ResidentOn) : IRequest<IReadOnlyList<VmView>>;

    public sealed class Handler(IQuerySession session, TimeProvider time) :
        IRequestHandler<Query, VmView>, IRequestHandler<Metrics, VmMetricsView>, IRequestHandler<List, IReadOnlyList<VmView>>
    {
        public async Task<VmView> Handle(Query request, CancellationToken cancellationToken) =>
            VmView.From(Live(await ReadModels.LoadAsync<Vm>(session, request.Id, ObjectClass.Vm, request.MinVersion, v => v.Version, time, cancellationToken)));

        public async Task<VmMetricsView> Handle(Metrics request, CancellationToken cancellationToken)
        {
            var vm = Live(await session.GetAsync<Vm>(request.Id, ObjectClass.Vm, cancellationToken));
            var meta = await session.MetadataForAsync(vm, cancellationToken);
            return VmMetricsView.From(vm, meta?.LastModified ?? vm.InstallTime);
        }

        public async Task<IReadOnlyList<VmView>> Handle(List request, CancellationToken cancellationToken)
        {
            IQueryable<Vm> query = session.Query<Vm>().Where(v => !v.Destroyed);
            if (request.PowerState is { Length: > 0 } state && Enum.TryParse<VmPowerState>(state, ignoreCase: true, out var ps))
            {
                query = query.Where(v => v.PowerState == ps);
            }

            if (request.ResidentOn is { } host)
            {
                query = query.Where(v => v.ResidentOn == host);
            }

            var vms = await query.OrderBy(v => v.NameLabel).ToListAsync(cancellationToken);
            return [.. vms.Select(VmView.From)];
        }

        /// <summary>A destroyed VM is gone from reads (HANDLE_INVALID); its history stays.</summary>
        private static Vm Live(Vm vm) => vm.Destroyed ? throw XapiException.HandleInvalid(ObjectClass.Vm, vm.Id) : vm;
    }
}
