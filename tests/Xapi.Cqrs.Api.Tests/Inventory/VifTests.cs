using System.Net;
using System.Text.RegularExpressions;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;
using Xapi.Cqrs.Domain.Vifs;

namespace Xapi.Cqrs.Api.Tests.Inventory;

public sealed partial class VifTests(XapiServer server) : IClassFixture<XapiServer>
{
    private readonly CancellationToken ct = TestContext.Current.CancellationToken;

    [GeneratedRegex("^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")]
    private static partial Regex CanonicalMac();

    [Fact]
    public async Task Created_vif_reads_back_and_is_listed_on_its_vm()
    {
        using var client = server.Client();
        var vm = await client.CreateVm();
        var network = await client.CreateNetwork();
        using var created = await client.Post($"/api/vms/{vm}/vifs", new { networkId = network, device = "0", mac = "00:16:3E:0A:0B:0C", mtu = 9000 });
        var id = await created.CreatedId();
        created.Headers.Location!.ToString().ShouldBe($"/api/vifs/{id}");

        var read = await client.GetJson($"/api/vifs/{id}");
        read.GetProperty("id").GetGuid().ShouldBe(id);
        read.GetProperty("vm").GetGuid().ShouldBe(vm);
        read.GetProperty("network").GetGuid().ShouldBe(network);
        read.GetProperty("device").GetString().ShouldBe("0");
        read.GetProperty("mac").GetString().ShouldBe("00:16:3e:0a:0b:0c");
        read.GetProperty("mtu").GetInt64().ShouldBe(9000);
        read.GetProperty("currentlyAttached").GetBoolean().ShouldBeFalse();

        var vmRead = await client.GetJson($"/api/vms/{vm}");
        vmRead.GetProperty("vifs").EnumerateArray().Select(v => v.GetGuid()).ShouldBe([id]);
        vmRead.GetProperty("version").GetInt64().ShouldBe(2);
    }

    [Fact]
    public async Task Vif_without_mtu_gets_1500()
    {
        using var client = server.Client();
        var id = await client.CreateVif(await client.CreateVm(), await client.CreateNetwork());

        (await client.GetJson($"/api/vifs/{id}")).GetProperty("mtu").GetInt64().ShouldBe(1500);
    }

    [Fact]
    public async Task Generated_mac_is_valid_and_stable_per_device()
    {
        using var client = server.Client();
        var vm = await client.CreateVm();
        var network = await client.CreateNetwork();
        var first = await client.CreateVif(vm, network, device: "0");
        var second = await client.CreateVif(vm, network, device: "1");

        var mac0 = (await client.GetJson($"/api/vifs/{first}")).GetProperty("mac").GetString()!;
        var mac1 = (await client.GetJson($"/api/vifs/{second}")).GetProperty("mac").GetString()!;

        CanonicalMac().IsMatch(mac0).ShouldBeTrue(mac0);
        Macs.IsValid(mac0).ShouldBeTrue();
        (Convert.ToByte(mac0[..2], 16) & 0x03).ShouldBe(0x02, "locally administered, unicast");
        mac1.ShouldNotBe(mac0);
        // Stable: derived from the VM's mac_seed (other_config, written at creation) and the device, not drawn at random.
        var seed = (await client.GetJson($"/api/vms/{vm}")).GetProperty("otherConfig").GetProperty("mac_seed").GetString()!;
        mac0.ShouldBe(Macs.Derive(seed, "0"));
        mac1.ShouldBe(Macs.Derive(seed, "1"));
        (await client.GetJson($"/api/vifs/{first}")).GetProperty("mac").GetString().ShouldBe(mac0);
    }

    [Fact]
    public async Task Letters_in_the_device_are_invalid_device()
    {
        using var client = server.Client();
        var vm = await client.CreateVm();
        var network = await client.CreateNetwork();
        using var response = await client.Post($"/api/vms/{vm}/vifs", new { networkId = network, device = "a1" });
        var problem = await response.ShouldBeProblem(HttpStatusCode.BadRequest, "INVALID_DEVICE", "a1");
        problem.GetProperty("errors").TryGetProperty("device", out _).ShouldBeTrue();
    }

    [Fact]
    public async Task Same_device_twice_is_device_already_exists()
    {
        using var client = server.Client();
        var vm = await client.CreateVm();
        var network = await client.CreateNetwork();
        await client.CreateVif(vm, network, device: "2");
        var version = (await client.GetJson($"/api/vms/{vm}")).GetProperty("version").GetInt64();

        using var response = await client.Post($"/api/vms/{vm}/vifs", new { networkId = network, device = "2" });
        await response.ShouldBeProblem(HttpStatusCode.Conflict, "DEVICE_ALREADY_EXISTS", "2");
        var vmRead = await client.GetJson($"/api/vms/{vm}");
        vmRead.GetProperty("vifs").GetArrayLength().ShouldBe(1);
        vmRead.GetProperty("version").GetInt64().ShouldBe(version);
    }

    [Fact]
    public async Task Bad_mac_is_mac_invalid()
    {
        using var client = server.Client();
        var vm = await client.CreateVm();
        var network = await client.CreateNetwork();
        using var response = await client.Post($"/api/vms/{vm}/vifs", new { networkId = network, device = "0", mac = "00:16:3e:zz:00:01" });
        await response.ShouldBeProblem(HttpStatusCode.BadRequest, "MAC_INVALID", "00:16:3e:zz:00:01");
    }

    [Fact]
    public async Task Mtu_out_of_range_is_invalid_value()
    {
        using var client = server.Client();
        var vm = await client.CreateVm();
        var network = await client.CreateNetwork();
        using var response = await client.Post($"/api/vms/{vm}/vifs", new { networkId = network, device = "0", mtu = 70000 });
        await response.ShouldBeProblem(HttpStatusCode.BadRequest, "INVALID_VALUE", "MTU", "70000");
    }

    [Fact]
    public async Task Vif_on_an_unknown_vm_is_handle_invalid()
    {
        using var client = server.Client();
        var vm = Guid.NewGuid();
        var network = await client.CreateNetwork();
        using var response = await client.Post($"/api/vms/{vm}/vifs", new { networkId = network, device = "0" });
        await response.ShouldBeProblem(HttpStatusCode.NotFound, "HANDLE_INVALID", "VM", vm.ToString());
    }

    [Fact]
    public async Task Vif_on_an_unknown_network_is_handle_invalid()
    {
        using var client = server.Client();
        var vm = await client.CreateVm();
        var network = Guid.NewGuid();
        using var response = await client.Post($"/api/vms/{vm}/vifs", new { networkId = network, device = "0" });
        await response.ShouldBeProblem(HttpStatusCode.NotFound, "HANDLE_INVALID", "network", network.ToString());
    }

    [Fact]
    public async Task Unknown_vif_is_handle_invalid()
    {
        using var client = server.Client();
        var id = Guid.NewGuid();
        using var response = await client.GetAsync($"/api/vifs/{id}", ct);
        await response.ShouldBeProblem(HttpStatusCode.NotFound, "HANDLE_INVALID", "VIF", id.ToString());
    }

    [Fact]
    public async Task Vm_admin_may_create_a_vif()
    {
        using var admin = server.Client();
        var vm = await admin.CreateVm();
        var network = await admin.CreateNetwork();
        using var client = await server.ClientWithRole("vm-admin");

        var id = await client.CreateVif(vm, network);
        (await client.GetJson($"/api/vifs/{id}")).GetProperty("network").GetGuid().ShouldBe(network);
    }

    [Fact]
    public async Task Read_only_may_not_create_a_vif()
    {
        using var admin = server.Client();
        var vm = await admin.CreateVm();
        var network = await admin.CreateNetwork();
        using var client = await server.ClientWithRole("read-only");

        using var response = await client.Post($"/api/vms/{vm}/vifs", new { networkId = network, device = "0" });
        await response.ShouldBeProblem(HttpStatusCode.Forbidden, "RBAC_PERMISSION_DENIED", "VIF.create", "read-only");
    }
}
