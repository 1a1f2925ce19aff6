using Marten;
using MediatR;
using Xapi.Cqrs.Application.Devices;
using Xapi.Cqrs.Application.Hosts;
using Xapi.Cqrs.Application.Inventory;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Application.Vms;
using Host = Xapi.Cqrs.Domain.Hosts.Host;

namespace Xapi.Cqrs.Api.Startup;

/// <summary>
/// On an empty store (and Xapi:DemoPool=true): one network, one shared SR, four simulated hosts of 64 GiB
/// and 16 CPUs that see both, and a few halted VMs with a disk and a NIC each — registered through the
/// same commands a client would send.
/// </summary>
public sealed class DemoPool(XapiOptions options, IServiceScopeFactory scopes, ILogger<DemoPool> log) : IHostedService
{
    private const long GiB = 1L << 30;
    private const long MiB = 1L << 20;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!options.DemoPool)
        {
            return;
        }

        await using var scope = scopes.CreateAsyncScope();
        var query = scope.ServiceProvider.GetRequiredService<IQuerySession>();
        if (await query.Query<Host>().AnyAsync(cancellationToken))
        {
            return;
        }

        scope.ServiceProvider.GetRequiredService<CommandContext>().Subject = "demo-pool";
        var m = scope.ServiceProvider.GetRequiredService<IMediator>();
        var network = await m.Send(new CreateNetwork.Command("Pool-wide network", "xenbr0"), cancellationToken);
        var sr = await m.Send(new CreateSr.Command("Shared storage", true), cancellationToken);
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

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
