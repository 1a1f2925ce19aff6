using Marten;
using MediatR;
using Xapi.Cqrs.Application.Devices;
using Xapi.Cqrs.Application.Hosts;
using Xapi.Cqrs.Application.Inventory;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Application.Vms;
using Xapi.Cqrs.Domain.Networks;
using Xapi.Cqrs.Domain.Storage;
using Host = Xapi.Cqrs.Domain.Hosts.Host;

namespace Xapi.Cqrs.Api.Startup;

/// <summary>
/// On an empty store (and Xapi:DemoPool=true): one network, one shared SR, four simulated hosts of 64 GiB
/// and 16 CPUs that see both, and a few halted VMs with a disk and a NIC each — registered through the
/// same commands a client would send. With Xapi:DemoQemuHost=true (ops/run --qemu) it also registers, once, a qemu host
/// <c>qemu1</c> of 2 GiB and 2 CPUs and a small VM <c>tiny01</c> (1 vCPU, 128 MiB, a 1 GiB disk and a NIC) whose affinity is
/// that host, so that <c>POST /api/vms/{id}/start</c> boots a real QEMU (the firmware only: its disk is empty).
/// </summary>
public sealed class DemoPool(XapiOptions options, IServiceScopeFactory scopes, ILogger<DemoPool> log) : IHostedService
{
    private const long GiB = 1L << 30;
    private const long MiB = 1L << 20;
    private const string NetworkName = "Pool-wide network";
    private const string SrName = "Shared storage";
    private const string QemuHostName = "qemu1";

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!options.DemoPool)
        {
            return;
        }

        await using var scope = scopes.CreateAsyncScope();
        var query = scope.ServiceProvider.GetRequiredService<IQuerySession>();
        scope.ServiceProvider.GetRequiredService<CommandContext>().Subject = "demo-pool";
        var m = scope.ServiceProvider.GetRequiredService<IMediator>();
        if (!await query.Query<Host>().AnyAsync(cancellationToken))
        {
            await RegisterSimulatedAsync(m, cancellationToken);
        }

        if (options.DemoQemuHost)
        {
            await RegisterQemuAsync(query, m, cancellationToken);
        }
    }

    private async Task RegisterSimulatedAsync(IMediator m, CancellationToken cancellationToken)
    {
        var network = await m.Send(new CreateNetwork.Command(NetworkName, "xenbr0"), cancellationToken);
        var sr = await m.Send(new CreateSr.Command(SrName, true), cancellationToken);
        for (var i = 1; i <= 4; i++)
        {
            await m.Send(new RegisterHost.Command($"host{i}", $"127.0.0.{i + 1}", 64 * GiB, 2 * GiB, 16, true, [network.Id], [sr.Id], options.Hypervisor), cancellationToken);
        }

        (string Name, string Type, long Vcpus, long Memory)[] vms =
        [
            ("web01", "hvm", 2, 2 * GiB), ("web02", "hvm", 2, 2 * GiB), ("db01", "hvm", 4, 8 * GiB),
            ("build01", "pv", 4, 4 * GiB), ("cache01", "pvh", 2, 1 * GiB), ("test01", "hvm", 1, 512 * MiB),
        ];
        foreach (var (name, type, vcpus, memory) in vms)
        {
            var vm = await m.Send(new CreateVm.Command(name, vcpus, vcpus, memory / 2, memory / 2, memory, memory, type, null, 1.0, "restart",
                null, false, null, "", null, null, null, null, null), cancellationToken);
            var vdi = await m.Send(new CreateVdi.Command(sr.Id, $"{name} disk", 20 * GiB, false, false), cancellationToken);
            await m.Send(new CreateVbd.Command(vm.Id, vdi.Id, "0", "RW", "Disk", true, false, true), cancellationToken);
            await m.Send(new CreateVif.Command(vm.Id, network.Id, "0", null, null), cancellationToken);
        }

        log.LogInformation("registered the demo pool: 4 hosts, {Count} halted VMs", vms.Length);
    }

    private async Task RegisterQemuAsync(IQuerySession query, IMediator m, CancellationToken cancellationToken)
    {
        if (await query.Query<Host>().AnyAsync(h => h.NameLabel == QemuHostName, cancellationToken))
        {
            return;
        }

        var network = await query.Query<Network>().FirstOrDefaultAsync(n => n.NameLabel == NetworkName, cancellationToken);
        var sr = await query.Query<Sr>().FirstOrDefaultAsync(s => s.NameLabel == SrName, cancellationToken);
        var networkId = network?.Id ?? (await m.Send(new CreateNetwork.Command(NetworkName, "xenbr0"), cancellationToken)).Id;
        var srId = sr?.Id ?? (await m.Send(new CreateSr.Command(SrName, true), cancellationToken)).Id;
        var host = await m.Send(new RegisterHost.Command(QemuHostName, "127.0.0.1", 2 * GiB, 0, 2, true, [networkId], [srId], "qemu"), cancellationToken);
        var vm = await m.Send(new CreateVm.Command("tiny01", 1, 1, 128 * MiB, 128 * MiB, 128 * MiB, 128 * MiB, "hvm", null, 1.0, "restart",
            host.Id, false, null, "", null, null, null, null, null), cancellationToken);
        var vdi = await m.Send(new CreateVdi.Command(srId, "tiny01 disk", 1 * GiB, false, false), cancellationToken);
        await m.Send(new CreateVbd.Command(vm.Id, vdi.Id, "0", "RW", "Disk", true, false, true), cancellationToken);
        await m.Send(new CreateVif.Command(vm.Id, networkId, "0", null, null), cancellationToken);
        log.LogInformation("registered the demo qemu host {Host} ({HostId}) and its VM tiny01 ({VmId})", QemuHostName, host.Id, vm.Id);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
