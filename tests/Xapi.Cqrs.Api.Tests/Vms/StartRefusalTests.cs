using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;

namespace Xapi.Cqrs.Api.Tests.Vms;

/// <summary>Starts that cannot begin: the error (status, code, params), and nothing left behind.</summary>
public sealed class StartRefusalTests(XapiServer server) : IClassFixture<XapiServer>
{
    private readonly CancellationToken ct = TestContext.Current.CancellationToken;

    private async Task<(HttpClient Client, Pool Pool)> NewPoolAsync()
    {
        var client = server.Client();
        return (client, await Pool.CreateAsync(client, ct));
    }

    private Task<HttpResponseMessage> StartAsync(HttpClient client, Guid vm) =>
        client.PostAsJsonAsync($"/api/vms/{vm}/start", new { }, ct);

    private Task<HttpResponseMessage> StartOnAsync(HttpClient client, Guid vm, Guid host) =>
        client.PostAsJsonAsync($"/api/vms/{vm}/start-on", new { host }, ct);

    /// <summary>VM still Halted, no operation left, no host with a scheduled VM, the refusal in the history.</summary>
    private static async Task AssertRefusedCleanlyAsync(Pool pool, Guid vm, string code)
    {
        var record = await pool.VmRecordAsync(vm);
        record.GetProperty("powerState").GetString().ShouldBe("Halted");
        record.GetProperty("residentOn").ValueKind.ShouldBe(JsonValueKind.Null);
        record.GetProperty("scheduledToBeResidentOn").ValueKind.ShouldBe(JsonValueKind.Null);
        record.GetProperty("currentOperations").EnumerateObject().ShouldBeEmpty();
        await pool.AssertNothingLeftAsync();
        var history = await pool.GetAsync($"/api/vms/{vm}/history");
        history.EnumerateArray().ShouldContain(e => e.GetProperty("type").GetString() == "start_refused"
            && e.GetProperty("data").GetProperty("code").GetString() == code);
    }

    [Fact]
    public async Task Start_of_a_running_vm_is_VM_BAD_POWER_STATE_and_recorded()
    {
        var (client, pool) = await NewPoolAsync();
        using var _ = client;
        var host = await pool.HostAsync();
        var vm = await pool.VmAsync();
        await (await StartOnAsync(client, vm.Id, host)).ShouldBeOkAsync();
        var refusalsBefore = (await pool.GetAsync($"/api/vms/{vm.Id}/history")).EnumerateArray().Count(e => e.GetProperty("type").GetString() == "start_refused");

        await (await StartAsync(client, vm.Id)).ShouldBeProblem(HttpStatusCode.Conflict, "VM_BAD_POWER_STATE", vm.Id.ToString(), "halted", "running");

        var history = await pool.GetAsync($"/api/vms/{vm.Id}/history");
        history.EnumerateArray().Count(e => e.GetProperty("type").GetString() == "start_refused").ShouldBe(refusalsBefore + 1);
        var record = await pool.VmRecordAsync(vm.Id);
        record.GetProperty("powerState").GetString().ShouldBe("Running");
        record.GetProperty("residentOn").GetGuid().ShouldBe(host);
        await pool.AssertNothingLeftAsync();
    }

    [Fact]
    public async Task Blocked_start_is_OPERATION_BLOCKED()
    {
        var (client, pool) = await NewPoolAsync();
        using var _ = client;
        await pool.HostAsync();
        var vm = await pool.VmAsync(new VmSpec { BlockedOperations = new() { ["start"] = "MY_REASON" } });

        await (await StartAsync(client, vm.Id)).ShouldBeProblem(HttpStatusCode.Conflict, "OPERATION_BLOCKED", vm.Id.ToString(), "MY_REASON");
        await AssertRefusedCleanlyAsync(pool, vm.Id, "OPERATION_BLOCKED");
    }

    [Fact]
    public async Task Template_is_VM_IS_TEMPLATE()
    {
        var (client, pool) = await NewPoolAsync();
        using var _ = client;
        await pool.HostAsync();
        var vm = await pool.VmAsync(new VmSpec { IsATemplate = true });

        await (await StartAsync(client, vm.Id)).ShouldBeProblem(HttpStatusCode.Conflict, "VM_IS_TEMPLATE", vm.Id.ToString(), "start");
        await AssertRefusedCleanlyAsync(pool, vm.Id, "VM_IS_TEMPLATE");
    }

    [Fact]
    public async Task Sixty_four_vcpus_is_VM_TOO_MANY_VCPUS()
    {
        var (client, pool) = await NewPoolAsync();
        using var _ = client;
        await pool.HostAsync(cpuCount: 128);
        var vm = await pool.VmAsync(new VmSpec { VcpusMax = 64, VcpusAtStartup = 2 });

        await (await StartAsync(client, vm.Id)).ShouldBeProblem(HttpStatusCode.Conflict, "VM_TOO_MANY_VCPUS", vm.Id.ToString());
        await AssertRefusedCleanlyAsync(pool, vm.Id, "VM_TOO_MANY_VCPUS");
    }

    [Fact]
    public async Task Eight_mib_is_VM_MEMORY_SIZE_TOO_LOW()
    {
        var (client, pool) = await NewPoolAsync();
        using var _ = client;
        await pool.HostAsync();
        const long eight = 8 * Pool.MiB;
        var vm = await pool.VmAsync(new VmSpec { StaticMin = eight, DynamicMin = eight, DynamicMax = eight, StaticMax = eight });

        await (await StartAsync(client, vm.Id)).ShouldBeProblem(HttpStatusCode.Conflict, "VM_MEMORY_SIZE_TOO_LOW", vm.Id.ToString());
        await AssertRefusedCleanlyAsync(pool, vm.Id, "VM_MEMORY_SIZE_TOO_LOW");
    }

    [Fact]
    public async Task No_host_with_enough_memory_is_NO_HOSTS_AVAILABLE()
    {
        var (client, pool) = await NewPoolAsync();
        using var _ = client;
        await pool.HostAsync(memoryTotal: 4 * Pool.GiB);
        const long huge = 1024 * Pool.GiB; // more than any host of this server has
        var vm = await pool.VmAsync(new VmSpec { StaticMin = huge, DynamicMin = huge, DynamicMax = huge, StaticMax = huge });

        await (await StartAsync(client, vm.Id)).ShouldBeProblem(HttpStatusCode.Conflict, "NO_HOSTS_AVAILABLE");
        await AssertRefusedCleanlyAsync(pool, vm.Id, "NO_HOSTS_AVAILABLE");
    }

    [Fact]
    public async Task Start_on_a_disabled_host_is_HOST_DISABLED()
    {
        var (client, pool) = await NewPoolAsync();
        using var _ = client;
        var host = await pool.HostAsync();
        await (await client.PostAsync($"/api/hosts/{host}/disable", null, ct)).ShouldBeOkAsync();
        var vm = await pool.VmAsync();

        await (await StartOnAsync(client, vm.Id, host)).ShouldBeProblem(HttpStatusCode.Conflict, "HOST_DISABLED", host.ToString());
        await AssertRefusedCleanlyAsync(pool, vm.Id, "HOST_DISABLED");
    }

    [Fact]
    public async Task Start_on_a_small_host_is_HOST_NOT_ENOUGH_FREE_MEMORY()
    {
        var (client, pool) = await NewPoolAsync();
        using var _ = client;
        const long total = 768 * Pool.MiB;
        const long hostOverhead = 256 * Pool.MiB;
        var host = await pool.HostAsync(memoryTotal: total, memoryOverhead: hostOverhead);
        var vm = await pool.VmAsync(new VmSpec { DynamicMin = 512 * Pool.MiB + 1 }); // rounds up to 513 MiB
        var record = await pool.VmRecordAsync(vm.Id);
        var overheadMib = (record.GetProperty("memoryOverhead").GetInt64() + Pool.MiB - 1) / Pool.MiB;
        var needed = (513 + overheadMib) * Pool.MiB; // XAPI.md §5.3: (⌈dynamic_min⌉ + overhead) MiB
        var available = total - hostOverhead; // §5.4: nothing resident or scheduled on it

        await (await StartOnAsync(client, vm.Id, host)).ShouldBeProblem(HttpStatusCode.Conflict, "HOST_NOT_ENOUGH_FREE_MEMORY",
            needed.ToString(System.Globalization.CultureInfo.InvariantCulture), available.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await AssertRefusedCleanlyAsync(pool, vm.Id, "HOST_NOT_ENOUGH_FREE_MEMORY");
    }

    [Fact]
    public async Task Start_on_a_host_that_is_not_live_is_HOST_NOT_LIVE()
    {
        var (client, pool) = await NewPoolAsync();
        using var _ = client;
        var host = await pool.HostAsync();
        await (await client.PostAsJsonAsync($"/api/hosts/{host}/live", new { live = false }, ct)).ShouldBeOkAsync();
        var vm = await pool.VmAsync();

        await (await StartOnAsync(client, vm.Id, host)).ShouldBeProblem(HttpStatusCode.Conflict, "HOST_NOT_LIVE");
        await AssertRefusedCleanlyAsync(pool, vm.Id, "HOST_NOT_LIVE");
    }

    [Fact]
    public async Task Hvm_vm_on_a_host_without_hvm_is_VM_HVM_REQUIRED()
    {
        var (client, pool) = await NewPoolAsync();
        using var _ = client;
        var host = await pool.HostAsync(hvmCapable: false);
        var vm = await pool.VmAsync(new VmSpec { DomainType = "hvm" });

        await (await StartOnAsync(client, vm.Id, host)).ShouldBeProblem(HttpStatusCode.Conflict, "VM_HVM_REQUIRED", vm.Id.ToString());
        await AssertRefusedCleanlyAsync(pool, vm.Id, "VM_HVM_REQUIRED");
    }

    [Fact]
    public async Task Vif_on_a_network_the_host_does_not_see_is_VM_REQUIRES_NETWORK()
    {
        var (client, pool) = await NewPoolAsync();
        using var _ = client;
        var other = await pool.NetworkAsync();
        var host = await pool.HostAsync(networks: [other]);
        await pool.HostAsync(); // lists the VM's network: it has a PIF somewhere, so it is not internal (§4.3 row 12)
        var vm = await pool.VmAsync();

        await (await StartOnAsync(client, vm.Id, host)).ShouldBeProblem(HttpStatusCode.Conflict, "VM_REQUIRES_NETWORK", vm.Id.ToString(), pool.Network.ToString());
        await AssertRefusedCleanlyAsync(pool, vm.Id, "VM_REQUIRES_NETWORK");
    }

    [Fact]
    public async Task Vdi_on_an_sr_the_host_does_not_see_is_VM_REQUIRES_SR()
    {
        var (client, pool) = await NewPoolAsync();
        using var _ = client;
        var other = await pool.SrAsync();
        var host = await pool.HostAsync(srs: [other]);
        var vm = await pool.VmAsync();

        await (await StartOnAsync(client, vm.Id, host)).ShouldBeProblem(HttpStatusCode.Conflict, "VM_REQUIRES_SR", vm.Id.ToString(), pool.Sr.ToString());
        await AssertRefusedCleanlyAsync(pool, vm.Id, "VM_REQUIRES_SR");
    }

    [Fact]
    public async Task More_vcpus_than_the_host_has_is_HOST_NOT_ENOUGH_PCPUS()
    {
        var (client, pool) = await NewPoolAsync();
        using var _ = client;
        var host = await pool.HostAsync(cpuCount: 4);
        var vm = await pool.VmAsync(new VmSpec { VcpusMax = 8, VcpusAtStartup = 2 });

        await (await StartOnAsync(client, vm.Id, host)).ShouldBeProblem(HttpStatusCode.Conflict, "HOST_NOT_ENOUGH_PCPUS", "8", "4");
        await AssertRefusedCleanlyAsync(pool, vm.Id, "HOST_NOT_ENOUGH_PCPUS");
    }

    [Fact]
    public async Task Second_rw_user_of_a_non_sharable_vdi_is_VDI_IN_USE()
    {
        var (client, pool) = await NewPoolAsync();
        using var _ = client;
        var host = await pool.HostAsync();
        var first = await pool.VmAsync();
        await (await StartOnAsync(client, first.Id, host)).ShouldBeOkAsync();
        var vdi = first.Vdis[0];
        var second = await pool.VmAsync(new VmSpec { DiskVdi = vdi });

        var response = await StartOnAsync(client, second.Id, host);
        var text = await response.Content.ReadAsStringAsync(ct);
        response.StatusCode.ShouldBe(HttpStatusCode.Conflict, text);
        var body = JsonDocument.Parse(text).RootElement;
        body.GetProperty("code").GetString().ShouldBe("VDI_IN_USE", text);
        body.GetProperty("params")[0].GetString().ShouldBe(vdi.ToString(), text);
        await AssertRefusedCleanlyAsync(pool, second.Id, "VDI_IN_USE");
        (await pool.VmRecordAsync(first.Id)).GetProperty("powerState").GetString().ShouldBe("Running");
    }

    [Fact]
    public async Task Unknown_vm_is_HANDLE_INVALID()
    {
        using var client = server.Client();
        var id = Guid.NewGuid();
        await (await StartAsync(client, id)).ShouldBeProblem(HttpStatusCode.NotFound, "HANDLE_INVALID", "VM", id.ToString());
    }

    [Fact]
    public async Task Vm_operator_may_start_and_read_only_may_not()
    {
        var (client, pool) = await NewPoolAsync();
        using var _ = client;
        await pool.HostAsync();
        var vm = await pool.VmAsync();
        var other = await pool.VmAsync();

        using var readOnly = await server.ClientWithRole("read-only");
        await (await StartAsync(readOnly, vm.Id)).ShouldBeProblem(HttpStatusCode.Forbidden, "RBAC_PERMISSION_DENIED", "VM.start", "read-only");
        var record = await pool.VmRecordAsync(vm.Id);
        record.GetProperty("powerState").GetString().ShouldBe("Halted");
        await pool.AssertNothingLeftAsync();

        using var operatorClient = await server.ClientWithRole("vm-operator");
        var started = await (await StartAsync(operatorClient, other.Id)).ShouldBeOkAsync();
        started.GetProperty("powerState").GetString().ShouldBe("Running");
        await pool.AssertNothingLeftAsync();
    }
}
