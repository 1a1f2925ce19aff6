using System.Text.Json;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;
using Xapi.Cqrs.Api.Tests.Vms;
using Xapi.Cqrs.HostAgent.Hypervisor.Qemu;
using Xapi.Cqrs.Testing.Qemu;

namespace Xapi.Cqrs.Api.Tests.Qemu;

/// <summary>A domain of a qemu host, as the domains endpoint gives it.</summary>
public sealed record QemuDomainView(int Domid, int Pid, string ConsoleLog, string MonitorSocket, string? PvDriversVersion);

/// <summary>What the qemu API tests share: a qemu host, VMs booting the guest image (or firmware only), their domains, polling.</summary>
public static class QemuGuests
{
    public static async Task<Guid> QemuHostAsync(this Pool pool, HttpClient client)
    {
        var host = await (await client.Post("/api/hosts", new
        {
            nameLabel = pool.Name("qemu"), memoryTotal = 4 * Pool.GiB, memoryOverhead = 0L, cpuCount = 2, hvmCapable = true,
            networks = new[] { pool.Network }, srs = new[] { pool.Sr }, hypervisor = "qemu",
        })).CreatedId();
        pool.AllIds.Add(host);
        return host;
    }

    /// <summary>A VDI that boots the guest image directly, with the backend's default command line plus <paramref name="extraCmdline"/>.</summary>
    public static async Task<Guid> GuestVdiAsync(this Pool pool, HttpClient client, string extraCmdline = "")
    {
        var (kernel, initrd) = await GuestImage.GetAsync();
        var cmdline = (DirectBoot.DefaultCmdline + " " + extraCmdline).Trim();
        var vdi = await (await client.Post("/api/vdis", new
        {
            srId = pool.Sr, nameLabel = pool.Name("guest"), virtualSize = Pool.GiB, readOnly = false, sharable = false,
            otherConfig = new Dictionary<string, string> { [DirectBoot.KernelKey] = kernel, [DirectBoot.InitrdKey] = initrd, [DirectBoot.CmdlineKey] = cmdline },
        })).CreatedId();
        pool.AllIds.Add(vdi);
        return vdi;
    }

    /// <summary>A 128 MiB, one-vCPU VM without NICs, its disk (bootable, position 0) on <paramref name="vdi"/> or a blank one.</summary>
    public static Task<PoolVm> SmallVmAsync(this Pool pool, Guid? vdi = null, string? actionsAfterShutdown = null) =>
        pool.VmAsync(new VmSpec
        {
            VcpusMax = 1, VcpusAtStartup = 1, StaticMin = 128 * Pool.MiB, DynamicMin = 128 * Pool.MiB, DynamicMax = 128 * Pool.MiB,
            StaticMax = 128 * Pool.MiB, Vifs = 0, DiskVdi = vdi, ActionsAfterShutdown = actionsAfterShutdown,
        });

    /// <summary>The VM's domain on the host, or null when the host lists none of it.</summary>
    public static async Task<QemuDomainView?> FindDomainAsync(this Pool pool, Guid host, Guid vm)
    {
        var all = await pool.GetAsync($"/api/hosts/{host}/hypervisor/domains");
        var d = all.EnumerateArray().Cast<JsonElement?>().FirstOrDefault(d => d!.Value.GetProperty("vm").GetGuid() == vm);
        if (d is not { } domain)
        {
            return null;
        }

        var drivers = domain.TryGetProperty("pvDriversVersion", out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
        return new QemuDomainView(domain.GetProperty("domid").GetInt32(), domain.GetProperty("pid").GetInt32(),
            domain.GetProperty("consoleLog").GetString()!, domain.GetProperty("monitorSocket").GetString()!, drivers);
    }

    public static async Task<QemuDomainView> DomainAsync(this Pool pool, Guid host, Guid vm) =>
        await pool.FindDomainAsync(host, vm) ?? throw new ShouldAssertException($"host {host} lists no domain of VM {vm}");

    public static string Power(this JsonElement vm) => vm.GetProperty("powerState").GetString()!;

    /// <summary>Polls <paramref name="condition"/> every 100 ms until it holds; fails with <paramref name="what"/> after <paramref name="timeout"/>.</summary>
    public static async Task<T> EventuallyAsync<T>(Func<Task<T?>> condition, TimeSpan timeout, string what, CancellationToken ct)
    {
        var deadline = DateTimeOffset.UtcNow + timeout;
        while (true)
        {
            if (await condition() is { } value)
            {
                return value;
            }

            if (DateTimeOffset.UtcNow >= deadline)
            {
                throw new ShouldAssertException($"not within {timeout.TotalSeconds:0} s: {what}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), ct);
        }
    }

    /// <summary>Waits for a line starting with <paramref name="marker"/> in the console log; answers that line.</summary>
    public static Task<string> ConsoleLineAsync(string consoleLog, string marker, TimeSpan timeout, CancellationToken ct) =>
        EventuallyAsync(() => Task.FromResult(GuestImage.ReadConsole(consoleLog).Split('\n').Select(l => l.TrimEnd('\r'))
                .FirstOrDefault(l => l.StartsWith(marker, StringComparison.Ordinal))),
            timeout, $"'{marker}' on the console {consoleLog}:\n{Tail(consoleLog)}", ct);

    /// <summary>The console's last lines, for a failure message.</summary>
    public static string Tail(string consoleLog) => string.Join('\n', GuestImage.ReadConsole(consoleLog).Split('\n').TakeLast(15));

    /// <summary>Waits for the VM record to show <paramref name="power"/>.</summary>
    public static async Task<JsonElement> PowerStateAsync(this Pool pool, Guid vm, string power, TimeSpan timeout, CancellationToken ct)
    {
        var record = await EventuallyAsync<JsonElement?>(async () => await pool.VmRecordAsync(vm) is var r && r.Power() == power ? r : null,
            timeout, $"VM {vm} {power}", ct);
        return record!.Value;
    }

    public static async Task<string> QmpStatusAsync(string monitorSocket, CancellationToken ct)
    {
        await using var qmp = await QmpClient.ConnectAsync(monitorSocket, TimeSpan.FromSeconds(10), ct);
        return (await qmp.ExecuteAsync("query-status", ct: ct)).GetProperty("status").GetString()!;
    }
}
