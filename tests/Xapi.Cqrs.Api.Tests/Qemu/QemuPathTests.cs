using System.Net;
using System.Text.Json;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;
using Xapi.Cqrs.Api.Tests.Vms;
using Xapi.Cqrs.HostAgent.Hypervisor.Qemu;

namespace Xapi.Cqrs.Api.Tests.Qemu;

/// <summary>The service of <see cref="QemuPathTests"/> (a class fixture of its own).</summary>
public sealed class QemuPathServer : XapiServer;

/// <summary>Real QEMU processes: one collection, so never more than one of these runs at once.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class QemuApiCollection
{
    public const string Name = "qemu-api";
}

/// <summary>
/// The full path of a VM on a qemu host, through the API, checked from outside over QMP: its disks (read-only flags) and
/// NIC (MAC), pause/unpause, shutdowns, and no QEMU process left behind. Every process started is killed by pid in a finally.
/// </summary>
[Collection(QemuApiCollection.Name)]
public sealed class QemuPathTests(QemuPathServer server) : IClassFixture<QemuPathServer>
{
    private const string Mac = "02:00:00:5e:00:42";
    private readonly CancellationToken ct = TestContext.Current.CancellationToken;

    private static string Power(JsonElement vm) => vm.GetProperty("powerState").GetString()!;

    private async Task<JsonElement> PostOkAsync(HttpClient client, string path) =>
        await (await client.PostAsync(path, null, ct)).ShouldBeOkAsync();

    private static async Task<JsonElement> DomainAsync(Pool pool, Guid host, Guid vm) =>
        (await pool.GetAsync($"/api/hosts/{host}/hypervisor/domains")).EnumerateArray().Single(d => d.GetProperty("vm").GetGuid() == vm);

    private static async Task<string> StatusAsync(QmpClient qmp, CancellationToken ct) =>
        (await qmp.ExecuteAsync("query-status", ct: ct)).GetProperty("status").GetString()!;

    [Fact]
    public async Task A_vm_on_a_qemu_host_runs_with_its_disks_and_nic_pauses_unpauses_and_stops_leaving_no_process()
    {
        var started = new List<(int Pid, string Socket)>();
        using var client = server.Client();
        try
        {
            // Given a qemu host and a VM with a RW disk, a RO disk and a NIC of a known MAC
            var pool = await Pool.CreateAsync(client, ct);
            var host = await (await client.Post("/api/hosts", new
            {
                nameLabel = pool.Name("qemu"), memoryTotal = 4 * Pool.GiB, memoryOverhead = 0L, cpuCount = 2, hvmCapable = true,
                networks = new[] { pool.Network }, srs = new[] { pool.Sr }, hypervisor = "qemu",
            })).CreatedId();
            var vm = await pool.VmAsync(new VmSpec
            {
                VcpusMax = 1, VcpusAtStartup = 1, StaticMin = 128 * Pool.MiB, DynamicMin = 128 * Pool.MiB, DynamicMax = 128 * Pool.MiB,
                StaticMax = 128 * Pool.MiB, Vifs = 0,
            });
            var roVdi = await pool.VdiAsync(readOnly: true);
            await (await client.Post($"/api/vms/{vm.Id}/vbds", new { vdiId = roVdi, userdevice = "1", mode = "RO", type = "Disk" })).CreatedId();
            await (await client.Post($"/api/vms/{vm.Id}/vifs", new { networkId = pool.Network, device = "0", mac = Mac })).CreatedId();

            // When it starts
            var running = await PostOkAsync(client, $"/api/vms/{vm.Id}/start");

            // Then it runs on the qemu host, whose QEMU shows both disks with their read-only flags and the NIC with its MAC
            (Power(running), running.GetProperty("residentOn").GetGuid()).ShouldBe(("Running", host));
            var domain = await DomainAsync(pool, host, vm.Id);
            var (pid, socket) = (domain.GetProperty("pid").GetInt32(), domain.GetProperty("monitorSocket").GetString()!);
            started.Add((pid, socket));
            QemuProcess.IsOurs(pid, socket).ShouldBeTrue();
            await using (var qmp = await QmpClient.ConnectAsync(socket, TimeSpan.FromSeconds(10), ct))
            {
                var readOnly = (await qmp.ExecuteAsync("query-block", ct: ct)).EnumerateArray()
                    .Where(b => b.TryGetProperty("inserted", out _)).Select(b => b.GetProperty("inserted").GetProperty("ro").GetBoolean()).Order().ToList();
                readOnly.ShouldBe([false, true]);
                var nics = (await qmp.ExecuteAsync("qom-list", new { path = "/machine/peripheral" }, ct)).EnumerateArray()
                    .Select(p => p.GetProperty("name").GetString()!).Where(n => n.StartsWith("vif-", StringComparison.Ordinal)).ToList();
                var nic = nics.ShouldHaveSingleItem();
                (await qmp.ExecuteAsync("qom-get", new { path = $"/machine/peripheral/{nic}", property = "mac" }, ct)).GetString().ShouldBe(Mac);
                (await StatusAsync(qmp, ct)).ShouldBe("running");

                // When it is paused, then unpaused: QEMU follows
                Power(await PostOkAsync(client, $"/api/vms/{vm.Id}/pause")).ShouldBe("Paused");
                (await StatusAsync(qmp, ct)).ShouldBe("paused");
                Power(await PostOkAsync(client, $"/api/vms/{vm.Id}/unpause")).ShouldBe("Running");
                (await StatusAsync(qmp, ct)).ShouldBe("running");
            }

            // Then the firmware-only guest (no OS booted, so no PV drivers and nothing handling ACPI) reports no features,
            // and clean shutdown and clean reboot are not offered
            var record = await pool.VmRecordAsync(vm.Id);
            var allowed = record.GetProperty("allowedOperations").EnumerateArray().Select(o => o.GetString()).ToList();
            allowed.ShouldNotContain("clean_shutdown");
            allowed.ShouldNotContain("clean_reboot");
            domain = await DomainAsync(pool, host, vm.Id);
            (domain.TryGetProperty("pvDriversVersion", out var drivers) ? drivers.ValueKind : JsonValueKind.Null).ShouldBe(JsonValueKind.Null);

            // When it is shut down cleanly all the same
            var cleanly = await client.PostAsync($"/api/vms/{vm.Id}/clean-shutdown", null, ct);

            // Then it is refused up front (XAPI.md §4.3 row 10), not left to fail at a deadline, and the VM and its QEMU keep running
            await cleanly.ShouldBeProblem(HttpStatusCode.Conflict, "VM_LACKS_FEATURE", vm.Id.ToString());
            Power(await pool.VmRecordAsync(vm.Id)).ShouldBe("Running");
            QemuProcess.IsOurs(pid, socket).ShouldBeTrue();

            // When it is hard shut down instead
            Power(await PostOkAsync(client, $"/api/vms/{vm.Id}/hard-shutdown")).ShouldBe("Halted");

            // Then its QEMU is gone
            QemuProcess.IsOurs(pid, socket).ShouldBeFalse("no QEMU left after the shutdown (at most a zombie)");

            // When it starts again, then is hard shut down
            Power(await PostOkAsync(client, $"/api/vms/{vm.Id}/start")).ShouldBe("Running");
            var second = await DomainAsync(pool, host, vm.Id);
            var (pid2, socket2) = (second.GetProperty("pid").GetInt32(), second.GetProperty("monitorSocket").GetString()!);
            started.Add((pid2, socket2));
            QemuProcess.IsOurs(pid2, socket2).ShouldBeTrue();
            var halted = await PostOkAsync(client, $"/api/vms/{vm.Id}/hard-shutdown");

            // Then it is Halted, the host lists no domain of it, and its QEMU process is gone
            (Power(halted), halted.GetProperty("domid").GetInt64()).ShouldBe(("Halted", -1L));
            (await pool.GetAsync($"/api/hosts/{host}/hypervisor/domains")).EnumerateArray().ShouldNotContain(d => d.GetProperty("vm").GetGuid() == vm.Id);
            QemuProcess.IsOurs(pid2, socket2).ShouldBeFalse("hard shutdown leaves no QEMU (at most a zombie)");
            await pool.AssertNothingLeftAsync();
        }
        finally
        {
            foreach (var (pid, socket) in started)
            {
                QemuProcess.Kill(pid, socket);
            }
        }
    }
}
